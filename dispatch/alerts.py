"""Alerts, opened and resolved by whichever layer sees the condition (late stops and idle drivers in
live operations, re-plan proposals and closed roads in planning, failed deliveries on a status change).

One open alert per `dedup_key` (a partial unique constraint); the kinds and their keys are listed in
dispatch.live.alerts. Every open, change and resolve is announced after commit as the `alert_changed`
event, which the live layer publishes to the depot's dashboards; this module imports nothing above it.
Texts are made once, in the company's language (company_text), and stored as said."""

import logging
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from dispatch import events
from dispatch.models import Alert

logger = logging.getLogger(__name__)

# A failed delivery's reason (the driver app's choices) as a failed-delivery alert names it.
FAIL_REASON_LABELS = {
    "not_home": gettext_noop("nobody home"),
    "no_access": gettext_noop("no access"),
    "refused": gettext_noop("refused"),
    "damaged": gettext_noop("damaged"),
    "wrong_address": gettext_noop("wrong address"),
    "other": gettext_noop("other reason"),
}


def company_text(text: str, **params) -> str:
    """An alert's text in the company's language (settings.LANGUAGE_CODE), made once when the alert is:
    the message is stored as written (and pushed live), every dispatcher of the depot reads the same
    one, and the text stays as it was said even if the wording changes later."""
    with translation.override(settings.LANGUAGE_CODE):
        return gettext(text) % {
            key: gettext(value) if key in _TRANSLATED_PARAMS else value for key, value in params.items()
        }


# Parameters that are themselves texts of the catalog (a failure reason), translated with the sentence.
_TRANSLATED_PARAMS = {"reason", "what"}


def iso_or_none(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def alert_message(alert: Alert) -> dict:
    return {
        "type": "alert",
        "id": alert.pk,
        "kind": alert.kind,
        "kind_label": alert_kind_label(alert.kind),
        "message": alert.message,
        "order": alert.order_id,
        "driver": alert.driver_id,
        "depot": alert.depot_id,
        "data": alert.data,
        "created_at": iso_or_none(alert.created_at),
        "resolved_at": iso_or_none(alert.resolved_at),
        "resolved": alert.resolved_at is not None,
    }


def publish_after_commit(alert: Alert) -> None:
    message = alert_message(alert)

    def send():
        try:
            events.alert_changed(depot_id=alert.depot_id, message=message)
        except Exception:  # noqa: BLE001 - a dashboard that misses an alert still finds it in the list
            logger.exception("could not publish alert %s", alert.pk)

    transaction.on_commit(send)


def alert_open(
    *,
    depot_id: int,
    kind: str,
    dedup_key: str,
    message: str,
    order_id: int | None = None,
    driver_id: int | None = None,
    data: dict | None = None,
) -> Alert:
    """Open an alert, or refresh the open one with the same key (published only when its text changes)."""
    data = data or {}
    with transaction.atomic():
        existing = Alert.objects.select_for_update().filter(dedup_key=dedup_key, resolved_at__isnull=True).first()
        if existing is not None:
            if existing.message != message or existing.data != data:
                existing.message, existing.data = message[:500], data
                existing.save(update_fields=["message", "data", "updated_at"])
                publish_after_commit(existing)
            return existing
        try:
            # Two processes may open the same key at once; the partial unique constraint lets one win.
            with transaction.atomic():
                alert = Alert.objects.create(
                    depot_id=depot_id, kind=kind, dedup_key=dedup_key, message=message[:500],
                    order_id=order_id, driver_id=driver_id, data=data,
                )  # fmt: skip
        except IntegrityError:
            return Alert.objects.get(dedup_key=dedup_key, resolved_at__isnull=True)
        publish_after_commit(alert)
        return alert


def alert_resolve(*, alert: Alert, by=None, at: datetime | None = None) -> bool:
    """Resolve an open alert; False when it was already resolved (by someone else, or automatically)."""
    at = at or timezone.now()
    resolver = by if getattr(by, "is_authenticated", False) else None
    with transaction.atomic():
        # Conditional update: a dispatcher's click and an automatic resolve must not both count.
        updated = Alert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(
            resolved_at=at, resolved_by=resolver, updated_at=at
        )
        if not updated:
            return False
        alert.resolved_at, alert.resolved_by = at, resolver
        publish_after_commit(alert)
    return True


def alerts_resolve_keys(dedup_keys) -> int:
    """Resolve the open alerts of these keys (automatic resolution: the condition no longer holds)."""
    resolved = 0
    for alert in Alert.objects.filter(dedup_key__in=list(dedup_keys), resolved_at__isnull=True):
        resolved += alert_resolve(alert=alert)
    return resolved


def alert_kind_label(kind: str) -> str:
    """The kind's label from Alert.Kind, so a kind added there is named without a change here."""
    return str(dict(Alert.Kind.choices).get(kind) or kind.replace("_", " ").capitalize())
