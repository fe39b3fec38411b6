"""Telling a partner of an order handed to it: a signed POST to its webhook URL.

Headers: X-Dispatch-Timestamp (unix seconds), X-Dispatch-Signature: sha256=<hex of HMAC-SHA256 over
"<timestamp>.<body>" with the partner's secret>, and Idempotency-Key: the hand-off's own key, the same
on every retry, so the partner's receiver drops a repeat. The body is the same on every attempt too.

A receiver's 5xx, 429 or a network error is retried with a growing pause (the task); any other 4xx
is final and written on the hand-off. The partner still finds the order in GET /api/partner/orders/.
"""

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from dispatch.models import Handoff

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = getattr(settings, "PARTNER_WEBHOOK_TIMEOUT_S", 10)
WEBHOOK_MAX_ATTEMPTS = getattr(settings, "PARTNER_WEBHOOK_MAX_ATTEMPTS", 8)
# 30 s, 1 min, 2 min, … at most an hour between attempts.
WEBHOOK_FIRST_PAUSE_S = 30
WEBHOOK_LONGEST_PAUSE_S = 3600


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", hex; the receiver recomputes it and compares in constant time."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def handoff_payload(handoff: Handoff) -> dict:
    """What the partner needs to deliver the order, and nothing of ours it does not."""
    order = handoff.order
    return {
        "event": "order.offered",
        "handoff": handoff.pk,
        "partner": handoff.partner.code,
        "order": {
            "id": order.pk,
            "reference": order.reference,
            "date": order.date.isoformat(),
            "customer_name": order.customer_name,
            "phone": order.phone,
            "address": order.address,
            "lat": order.lat,
            "lon": order.lon,
            "window_start": order.window_start.isoformat() if order.window_start else None,
            "window_end": order.window_end.isoformat() if order.window_end else None,
            "weight_kg": str(order.weight_kg),
            "items": order.items,
            "skills": order.skills,
            "notes": order.notes,
        },
        "cost": str(handoff.cost),
        "cutoff_at": handoff.cutoff_at.isoformat(),
        "offered_at": handoff.offered_at.isoformat(),
    }


@dataclass(frozen=True)
class WebhookOutcome:
    sent: bool
    retry_in: int | None = None  # seconds until the next attempt; None: nothing more to do
    error: str = ""


def _pause_after(attempts: int) -> int:
    return min(WEBHOOK_FIRST_PAUSE_S * 2 ** max(attempts - 1, 0), WEBHOOK_LONGEST_PAUSE_S)


def withdrawal_payload(handoff: Handoff) -> dict:
    """The order was taken back: the partner drops it (its reference, so the partner's own records match)."""
    return {
        "event": "order.withdrawn",
        "handoff": handoff.pk,
        "partner": handoff.partner.code,
        "order": {"id": handoff.order_id, "reference": handoff.order.reference, "date": handoff.order.date.isoformat()},
        "reason": handoff.reason,
        "withdrawn_at": handoff.closed_at.isoformat() if handoff.closed_at else None,
    }


def handoff_webhook_send(*, handoff_id: int) -> WebhookOutcome:
    """One attempt to post a hand-off to its partner; idempotent (a sent one is not sent again)."""
    handoff = Handoff.objects.select_related("order", "partner").filter(pk=handoff_id).first()
    if handoff is None or handoff.webhook_sent_at is not None:
        return WebhookOutcome(sent=False)
    if not handoff.partner.webhook_url or handoff.status not in Handoff.OPEN_STATUSES:
        return WebhookOutcome(sent=False)
    return _attempt(
        handoff, handoff_payload(handoff), key=handoff.webhook_key,
        attempts_field="webhook_attempts", sent_field="webhook_sent_at",
    )  # fmt: skip


def withdrawal_webhook_send(*, handoff_id: int) -> WebhookOutcome:
    """One attempt to tell the partner a hand-off was taken back; idempotent like the offer's.

    Its Idempotency-Key is the offer's with "-withdrawn": the same on every retry, and not the offer's.
    """
    handoff = Handoff.objects.select_related("order", "partner").filter(pk=handoff_id).first()
    if handoff is None or handoff.withdrawal_webhook_sent_at is not None:
        return WebhookOutcome(sent=False)
    if not handoff.partner.webhook_url or handoff.status != Handoff.Status.WITHDRAWN:
        return WebhookOutcome(sent=False)
    return _attempt(
        handoff, withdrawal_payload(handoff), key=f"{handoff.webhook_key}-withdrawn",
        attempts_field="withdrawal_webhook_attempts", sent_field="withdrawal_webhook_sent_at",
    )  # fmt: skip


def _attempt(handoff: Handoff, payload: dict, *, key: str, attempts_field: str, sent_field: str) -> WebhookOutcome:
    url = handoff.partner.webhook_url
    body = json.dumps(payload, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "last-mile-dispatch",
        "X-Dispatch-Timestamp": timestamp,
        "X-Dispatch-Signature": "sha256=" + webhook_signature(handoff.partner.webhook_secret, timestamp, body),
        "Idempotency-Key": key,
    }
    # Counted before the request: a worker that dies mid-request still used an attempt.
    Handoff.objects.filter(pk=handoff.pk).update(**{attempts_field: F(attempts_field) + 1})
    attempts = getattr(handoff, attempts_field) + 1
    error, final = _post(url, body, headers)
    if not error:
        Handoff.objects.filter(pk=handoff.pk).update(**{sent_field: timezone.now(), "webhook_error": ""})
        return WebhookOutcome(sent=True)
    Handoff.objects.filter(pk=handoff.pk).update(webhook_error=error[:500])
    if final or attempts >= WEBHOOK_MAX_ATTEMPTS:
        logger.warning("webhook %s of hand-off %s given up after %s attempts: %s", key, handoff.pk, attempts, error)
        return WebhookOutcome(sent=False, error=error)
    return WebhookOutcome(sent=False, retry_in=_pause_after(attempts), error=error)


def _post(url: str, body: bytes, headers: dict) -> tuple[str, bool]:
    """("", False) when the receiver took it; else (what went wrong, whether retrying is pointless)."""
    # urlopen also reads file: and ftp: URLs; a partner's URL must not make it do that.
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return f"not an http(s) URL: {url[:100]}", True
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        # The scheme is checked above (bandit B310).
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S):  # nosec B310
            return "", False
    except urllib.error.HTTPError as exc:
        final = not (exc.code == 429 or exc.code >= 500)
        return f"HTTP {exc.code} from {urllib.parse.urlsplit(url).netloc}", final
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        # The receiver drops a repeat by its Idempotency-Key, so even a request it may have seen is retried.
        return f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}", False
