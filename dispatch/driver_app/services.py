"""Writes of the driver's phone app: arriving at a stop, delivering with proof, failing with a reason,
and replaying the answer to an action the phone sends twice (its offline queue retries).

Every status change goes through dispatch.orders.services.order_change_status, which locks the order row.

An action keeps the time it happened (`occurred_at`, the driver's tap): the phone queues actions
while it has no signal and sends them later, and the history, the proof, the KPIs and the customer's
messages must say when the parcel was handed over, not when the phone found a network. The time the
server received it is kept beside it (`received_at`).
"""

import base64
import binascii
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dispatch.errors import DispatchError, InvalidTransition
from dispatch.live.positions import clock_ahead_problem
from dispatch.models import Driver, IdempotencyRecord, Order, OrderStatusChange, ProofOfDelivery
from dispatch.orders.services import order_change_status, status_word
from routes.models import Stop

S = Order.Status

# A phone photo is 2-4 MB as JPEG; the app shrinks it before sending, this is the hard limit.
PROOF_IMAGE_MAX_BYTES = getattr(settings, "PROOF_IMAGE_MAX_BYTES", 5 * 1024 * 1024)
FAIL_REASONS = ("not_home", "no_access", "refused", "damaged", "wrong_address", "other")
# Statuses from which a driver may act on a stop; arriving from "arrived" again is a no-op answer, not an error.
ARRIVE_FROM = {S.DISPATCHED, S.EN_ROUTE}
DELIVER_FROM = {S.DISPATCHED, S.EN_ROUTE, S.ARRIVED}
FAIL_FROM = {S.DISPATCHED, S.EN_ROUTE, S.ARRIVED}

_IMAGE_KINDS = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"))
_DATA_URL = re.compile(r"^data:(?P<mime>[\w/+.-]+)?(;[\w=-]+)*;base64,(?P<data>.*)$", re.DOTALL)


class IdempotencyConflict(DispatchError):
    status_code = 422


@dataclass(frozen=True)
class ProofImage:
    content: bytes
    extension: str  # "png" or "jpg"


def proof_image_from(value, *, field: str) -> ProofImage | None:
    """An uploaded file or a base64 data URL, checked to be a real PNG or JPEG of at most the size limit.

    The content type a phone declares is ignored: only the file's first bytes say what it is.
    """
    if value in (None, ""):
        return None
    if isinstance(value, str):
        match = _DATA_URL.match(value.strip())
        if match is None:
            raise DispatchError(
                _("Send an image file or a data: URL with base64 content"), field=field, value=value[:40]
            )
        if len(match["data"]) > PROOF_IMAGE_MAX_BYTES * 4 // 3 + 4:
            raise DispatchError(_image_too_large(), field=field)
        try:
            content = base64.b64decode(match["data"], validate=True)
        except (binascii.Error, ValueError):
            raise DispatchError(_("The data: URL is not valid base64"), field=field) from None
    else:
        if value.size > PROOF_IMAGE_MAX_BYTES:
            raise DispatchError(_image_too_large(), field=field, value=value.size)
        content = value.read()
    if len(content) > PROOF_IMAGE_MAX_BYTES:
        raise DispatchError(_image_too_large(), field=field, value=len(content))
    for magic, extension in _IMAGE_KINDS:
        if content.startswith(magic):
            return ProofImage(content=content, extension=extension)
    raise DispatchError(_("Only PNG or JPEG images are accepted"), field=field)


def _image_too_large() -> str:
    return _("The image is larger than %(megabytes)s MB") % {"megabytes": PROOF_IMAGE_MAX_BYTES // 1024 // 1024}


def action_time_problem(moment: datetime, *, now: datetime) -> str | None:
    """What is wrong with the time a driver says an action happened, or None.

    Ahead of the server's clock by more than a drifting phone clock explains, or older than
    DRIVER_ACTION_MAX_AGE_H (a queue forgotten on a phone for days is not evidence of anything).
    """
    problem = clock_ahead_problem(moment, now=now)
    if problem:
        return problem
    max_age_h = settings.DRIVER_ACTION_MAX_AGE_H
    if moment < now - timedelta(hours=max_age_h):
        return _("is more than %(hours)s hours ago; an action that old is no longer accepted") % {"hours": max_age_h}
    return None


def _local_text(moment: datetime) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds")


def action_happened_at(order: Order, *, occurred_at: datetime | None, received_at: datetime) -> datetime:
    """When a doorstep action happened (a driver's tap, a partner's report): its time, or now when it
    sent none; never ahead of the clock, not too old, not before the order's previous action.

    Called with the order row locked, so no other action can slip in between the check and the write.
    """
    if occurred_at is None:
        return received_at
    problem = action_time_problem(occurred_at, now=received_at)
    if problem:
        raise DispatchError(
            _("occurred_at %(problem)s") % {"problem": problem}, field="occurred_at", value=occurred_at.isoformat()
        )
    # A phone clock running a little fast (within the allowance) still did not see the future: the
    # history never holds a time after the server received it.
    happened = min(occurred_at, received_at)
    previous = (
        OrderStatusChange.objects.filter(order=order).order_by("-changed_at", "-id").values("to_status", "changed_at")
    ).first()
    if previous is not None and happened < previous["changed_at"]:
        raise DispatchError(
            _("occurred_at %(time)s is before this order's previous action (%(status)s at %(previous)s)")
            % {
                "time": _local_text(happened),
                "status": status_word(previous["to_status"]),
                "previous": _local_text(previous["changed_at"]),
            },
            field="occurred_at",
            value=occurred_at.isoformat(),
        )
    return happened


def check_proof_given(recipient_name: str, photo, signature) -> None:
    """A delivery names who took it, or shows it with a photo or a signature."""
    if not (recipient_name.strip() or photo or signature):
        raise DispatchError(_("Give the recipient's name, a photo or a signature"), field="recipient_name", value="")


def check_fail_reason(reason: str, note: str) -> None:
    """A failed delivery names one of FAIL_REASONS, and says what happened when it is "other"."""
    if reason not in FAIL_REASONS:
        raise DispatchError(
            _("Reason must be one of %(reasons)s") % {"reasons": ", ".join(FAIL_REASONS)}, field="reason", value=reason
        )
    if reason == "other" and not note.strip():
        raise DispatchError(_("Say what happened when the reason is other"), field="note", value=note)


def _check_from(stop: Stop, allowed: set[str], action: str) -> Order:
    # Locked now (order_change_status locks it again in this transaction): the previous action the
    # new one is checked against cannot change until this one is written.
    order = Order.objects.select_for_update().get(pk=stop.order_id)
    if order.status not in allowed:
        raise InvalidTransition(
            _("Order %(reference)s is %(status)s; it cannot be marked %(action)s")
            % {"reference": order.reference, "status": status_word(order.status), "action": status_word(action)},
            field="status",
            value=order.status,
        )
    return order


@transaction.atomic
def stop_arrive(
    *,
    driver: Driver,
    stop: Stop,
    by,
    lat=None,
    lon=None,
    occurred_at: datetime | None = None,
    received_at: datetime | None = None,
) -> Order:
    order = _check_from(stop, ARRIVE_FROM, "arrived")
    received_at = received_at or timezone.now()
    at = action_happened_at(order, occurred_at=occurred_at, received_at=received_at)
    return order_change_status(
        order=order, to_status=S.ARRIVED, by=by, lat=lat, lon=lon, at=at, received_at=received_at, reason="driver_app"
    )


@transaction.atomic
def stop_deliver(
    *,
    driver: Driver,
    stop: Stop,
    by,
    recipient_name: str = "",
    photo: ProofImage | None = None,
    signature: ProofImage | None = None,
    note: str = "",
    lat=None,
    lon=None,
    occurred_at: datetime | None = None,
    received_at: datetime | None = None,
) -> tuple[Order, ProofOfDelivery]:
    """Deliver a stop with its proof; a stop not yet marked arrived passes through arrived (both recorded,
    at the time of the delivery)."""
    check_proof_given(recipient_name, photo, signature)
    order = _check_from(stop, DELIVER_FROM, "delivered")
    received_at = received_at or timezone.now()
    at = action_happened_at(order, occurred_at=occurred_at, received_at=received_at)
    return deliver_with_proof(
        order=order, by=by, source="driver_app", driver=driver, recipient_name=recipient_name, photo=photo,
        signature=signature, note=note, lat=lat, lon=lon, at=at, received_at=received_at,
    )  # fmt: skip


def deliver_with_proof(
    *, order: Order, by, source: str, driver: Driver | None = None, recipient_name: str = "",
    photo: ProofImage | None = None, signature: ProofImage | None = None, note: str = "", lat=None, lon=None,
    at: datetime, received_at: datetime,
) -> tuple[Order, ProofOfDelivery]:  # fmt: skip
    """Delivered at `at`, with its proof; an order not yet marked arrived passes through arrived (both
    recorded at the time of the delivery). The doorstep of our drivers and of courier partners alike;
    called with the order row locked."""
    if order.status != S.ARRIVED:
        order = order_change_status(
            order=order, to_status=S.ARRIVED, by=by, lat=lat, lon=lon, at=at, received_at=received_at, reason=source,
            note="arrival recorded with the delivery",
        )  # fmt: skip
    order = order_change_status(
        order=order, to_status=S.DELIVERED, by=by, lat=lat, lon=lon, at=at, received_at=received_at, reason=source,
        note=note,
    )  # fmt: skip
    proof = ProofOfDelivery(
        order=order, driver=driver, recipient_name=recipient_name.strip(), note=note, lat=lat, lon=lon,
        delivered_at=at, received_at=received_at,
    )  # fmt: skip
    # Local files, a few MB at most: written inside the transaction so a rolled-back delivery keeps no row.
    stamp = at.strftime("%Y%m%dT%H%M%S")
    for field, image in (("photo", photo), ("signature", signature)):
        if image is not None:
            getattr(proof, field).save(
                f"{field}-{stamp}-{uuid.uuid4().hex[:8]}.{image.extension}", ContentFile(image.content), save=False
            )
    proof.save()
    return order, proof


@transaction.atomic
def stop_fail(
    *,
    driver: Driver,
    stop: Stop,
    by,
    reason: str,
    note: str = "",
    lat=None,
    lon=None,
    occurred_at: datetime | None = None,
    received_at: datetime | None = None,
) -> Order:
    check_fail_reason(reason, note)
    order = _check_from(stop, FAIL_FROM, "failed")
    received_at = received_at or timezone.now()
    at = action_happened_at(order, occurred_at=occurred_at, received_at=received_at)
    return order_change_status(
        order=order, to_status=S.FAILED, by=by, lat=lat, lon=lon, at=at, received_at=received_at, reason=reason,
        note=note,
    )  # fmt: skip


def _replay(record: IdempotencyRecord, *, method: str, path: str) -> tuple[int, dict]:
    if record.method != method or record.path != path:
        raise IdempotencyConflict(
            _("Idempotency-Key %(key)s was already used for %(method)s %(path)s")
            % {"key": repr(record.key), "method": record.method, "path": record.path},
            field="Idempotency-Key",
            value=record.key,
        )
    return record.status_code, record.response


def idempotent_action(*, user, key: str | None, method: str, path: str, action: Callable[[], tuple[int, dict]]):
    """Run `action` once per (user, key); later calls with the key get the first answer back.

    Returns (status_code, body, replayed). Only successful answers are stored: an error changes
    nothing, so running the action again answers the same error (or succeeds once it can).
    """
    if not key:
        status_code, body = action()
        return status_code, body, False
    if len(key) > 128:
        raise DispatchError(_("Idempotency-Key is longer than 128 characters"), field="Idempotency-Key", value=key[:40])
    record = IdempotencyRecord.objects.filter(user=user, key=key).first()
    if record is not None:
        return (*_replay(record, method=method, path=path), True)
    try:
        # The action and its record commit together: a crash between them cannot apply it without
        # remembering that it did.
        with transaction.atomic():
            status_code, body = action()
            IdempotencyRecord.objects.create(
                user=user, key=key, method=method, path=path, status_code=status_code, response=body
            )
    except (IntegrityError, DispatchError):
        # Two copies of one request raced: the loser either hit the unique key or found the order
        # already moved by the winner (the order row is locked). Either way the winner's answer stands.
        record = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if record is None:
            raise
        return (*_replay(record, method=method, path=path), True)
    return status_code, body, False
