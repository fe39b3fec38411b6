"""A customer's personal data: export it, erase it, and let it expire (GDPR Art. 15, 17 and 5(1)(e)).

One person is found by e-mail or phone, on their orders (which carry their own contact details)
and on their customer records. What is held about them: the orders (name, contact details,
address, notes, coordinates), the status history (drivers' notes, where each step happened), the
proofs of delivery (recipient name, note, photo, signature), the notifications sent (recipient,
texts), their messages and feedback, and the tracking links.

Erasing anonymizes rather than deletes, so that every count, duration, rating and KPI stays what it
was: texts are emptied, the proof images deleted, coordinates of the door coarsened to about a
kilometre (the zone and the lateness map stay right), the tracking links removed (their pages
answer 404). Orders still on their way are kept until they are completed (the delivery needs the
address): the answer names them, and retention erases them later. Erasing twice changes nothing.

Retention: personal data of orders completed more than PERSONAL_DATA_RETENTION_DAYS ago (by their
delivery day, in the company's time zone) is erased nightly (Celery beat), in small batches.
Each export and erasure is recorded in the audit log, without the personal values themselves.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from customers.models import CustomerMessage, Feedback, Notification, TrackingLink
from dispatch.audit import audit_record
from dispatch.models import Alert, Customer, Order, OrderStatusChange, ProofOfDelivery

COMPLETED_STATUSES = (Order.Status.DELIVERED, Order.Status.FAILED, Order.Status.CANCELLED)
# Two decimals of a degree: about 1.1 km north-south, 0.75 km east-west here. The street, not the door.
COARSE_DECIMALS = 2
RETENTION_BATCH = 200
ERASED_ALERT_TEXT = "(personal data erased)"

# What each model holds about the person, emptied on erasure ("" for texts, None for coordinates).
ORDER_TEXTS = ("customer_name", "phone", "email", "address", "notes")
CUSTOMER_TEXTS = ("name", "phone", "email")


def _phone_digits(phone: str) -> str:
    """+41 79 123 45 67, 0041791234567 and (079) 123-4567 are one number: its digits, 00 as +."""
    digits = re.sub(r"\D", "", phone or "")
    return digits[2:] if digits.startswith("00") else digits


def _phone_key(expression: str):
    """The same normalization in SQL: separators removed (a leading + or 00 is compared apart)."""
    from django.db.models import F, Value
    from django.db.models.functions import Replace

    result = F(expression)
    for separator in (" ", "-", "(", ")", ".", "/", "+"):
        result = Replace(result, Value(separator), Value(""))
    return result


@dataclass(frozen=True)
class Subject:
    """Whom a request is about: an e-mail address, a phone number, or both."""

    email: str = ""
    phone: str = ""

    @classmethod
    def of(cls, *, email: str | None = None, phone: str | None = None) -> Subject:
        email = (email or "").strip()
        phone = (phone or "").strip()
        if not email and not phone:
            raise ValidationError({"email": "Give the customer's e-mail address or phone number."})
        if phone and len(_phone_digits(phone)) < 6:
            raise ValidationError({"phone": f"{phone!r} is not a phone number (too few digits)."})
        if email and "@" not in email:
            raise ValidationError({"email": f"{email!r} is not an e-mail address."})
        return cls(email=email, phone=phone)

    def _matches(self, prefix: str = "") -> Q:
        query = Q()
        if self.email:
            query |= Q(**{f"{prefix}email__iexact": self.email})
        if self.phone:
            digits = _phone_digits(self.phone)
            # Stored numbers may have any separators, and 00 or + before the country code.
            query |= Q(**{f"_{prefix.strip('_') or 'self'}_phone_key__in": [digits, "00" + digits]})
        return query

    def orders(self):
        return (
            Order.objects.annotate(
                _self_phone_key=_phone_key("phone"), _customer_phone_key=_phone_key("customer__phone")
            )
            .filter(self._matches() | self._matches("customer__"))
            .distinct()
        )

    def customers(self):
        return Customer.objects.annotate(_self_phone_key=_phone_key("phone")).filter(self._matches())


# --- export -------------------------------------------------------------------------------------


def _row(instance: models.Model, *, skip: tuple[str, ...] = ()) -> dict:
    data = {}
    for model_field in instance._meta.concrete_fields:
        name = model_field.attname
        if name in skip or isinstance(model_field, models.BinaryField):
            continue  # a tracking link's nonce is a secret, not the person's data
        value = getattr(instance, name)
        if isinstance(model_field, models.FileField):
            value = value.name or ""
        data[name] = value
    return data


def _file_content(file) -> dict | None:
    if not file:
        return None
    try:
        with file.open("rb") as handle:
            content = handle.read()
    except OSError:
        return {"name": file.name, "missing": True}
    return {"name": file.name, "base64": base64.b64encode(content).decode("ascii")}


def _related_rows(order: Order) -> dict[str, list[dict]]:
    """Every row that points at the order, whichever app holds it: a model added later is exported too."""
    rows: dict[str, list[dict]] = {}
    for relation in order._meta.related_objects:
        accessor = relation.get_accessor_name()
        if relation.one_to_one:
            related = getattr(order, accessor, None) if hasattr(order, accessor) else None
            instances = [related] if related is not None else []
        else:
            instances = list(getattr(order, accessor).all())
        for instance in instances:
            row = _row(instance)
            if isinstance(instance, ProofOfDelivery):
                row["photo_file"] = _file_content(instance.photo)
                row["signature_file"] = _file_content(instance.signature)
            rows.setdefault(instance._meta.label_lower, []).append(row)
    return rows


def personal_data_export(*, email: str | None = None, phone: str | None = None, by) -> dict:
    """Everything held about one person, as JSON-ready data; recorded in the audit log."""
    subject = Subject.of(email=email, phone=phone)
    orders = list(subject.orders().select_related("depot").order_by("date", "pk"))
    customers = list(subject.customers().order_by("pk"))
    export = {
        "exported_at": timezone.now(),
        "query": {"email": subject.email, "phone": subject.phone},
        "customers": [_row(customer) for customer in customers],
        "orders": [{"order": _row(order), "depot": order.depot.name, **_related_rows(order)} for order in orders],
    }
    audit_record(
        actor=by,
        action="personal_data.exported",
        target=f"customer:{customers[0].pk}" if customers else "customer:",
        changes={"orders": [order.pk for order in orders], "customers": [c.pk for c in customers]},
    )
    # Plain JSON types throughout (dates, decimals as text): what the API and the admin hand out.
    return json.loads(json.dumps(export, cls=DjangoJSONEncoder))


# --- erasure ------------------------------------------------------------------------------------


@dataclass
class ErasureResult:
    orders_erased: list[int] = field(default_factory=list)
    orders_kept_open: list[str] = field(default_factory=list)  # references still on their way
    customers_erased: list[int] = field(default_factory=list)


def _coarse(value: float | None) -> float | None:
    return None if value is None else round(value, COARSE_DECIMALS)


def _orders_erase(order_ids: list[int]) -> None:
    """Anonymize completed orders and everything about them; safe to run twice."""

    if not order_ids:
        return
    orders = Order.objects.filter(pk__in=order_ids)
    for order in orders.only("pk", "lat", "lon"):
        Order.objects.filter(pk=order.pk).update(
            **dict.fromkeys(ORDER_TEXTS, ""), lat=_coarse(order.lat), lon=_coarse(order.lon)
        )
    for change in OrderStatusChange.objects.filter(order_id__in=order_ids).exclude(lat=None).only("pk", "lat", "lon"):
        OrderStatusChange.objects.filter(pk=change.pk).update(lat=_coarse(change.lat), lon=_coarse(change.lon))
    OrderStatusChange.objects.filter(order_id__in=order_ids).update(note="")
    for proof in ProofOfDelivery.objects.filter(order_id__in=order_ids):
        for file in (proof.photo, proof.signature):
            if file:
                file.delete(save=False)  # the image itself, from MEDIA_ROOT
        proof.photo = proof.signature = ""
        proof.recipient_name = proof.note = ""
        proof.lat, proof.lon = _coarse(proof.lat), _coarse(proof.lon)
        proof.save(update_fields=["photo", "signature", "recipient_name", "note", "lat", "lon"])
    Notification.objects.filter(order_id__in=order_ids).update(recipient="", subject="", body="", status_reason="")
    CustomerMessage.objects.filter(order_id__in=order_ids).update(text="")
    Feedback.objects.filter(order_id__in=order_ids).update(comment="")  # the rating stays: a KPI
    Alert.objects.filter(order_id__in=order_ids).update(message=ERASED_ALERT_TEXT, data={})
    # No link, no page: the tracking page of an erased order answers 404.
    TrackingLink.objects.filter(order_id__in=order_ids).delete()


def _customers_erase(customer_ids: list[int]) -> list[int]:
    """Customers none of whose orders is still on its way."""
    open_ = Order.objects.filter(customer_id__in=customer_ids).exclude(status__in=COMPLETED_STATUSES)
    erasable = sorted(set(customer_ids) - set(open_.values_list("customer_id", flat=True)))
    Customer.objects.filter(pk__in=erasable).update(**dict.fromkeys(CUSTOMER_TEXTS, ""), opted_out=True)
    return erasable


@transaction.atomic
def personal_data_erase(*, email: str | None = None, phone: str | None = None, by) -> ErasureResult:
    """Erase one person's data from their completed orders and customer records; recorded."""
    subject = Subject.of(email=email, phone=phone)
    matched = list(subject.orders().values_list("pk", "reference", "status"))
    customer_ids = list(subject.customers().values_list("pk", flat=True))
    result = ErasureResult(
        orders_erased=[pk for pk, _ref, status in matched if status in COMPLETED_STATUSES],
        orders_kept_open=[ref for _pk, ref, status in matched if status not in COMPLETED_STATUSES],
    )
    _orders_erase(result.orders_erased)
    result.customers_erased = _customers_erase(customer_ids)
    if result.orders_erased or result.customers_erased or result.orders_kept_open:
        audit_record(
            actor=by,
            action="personal_data.erased",
            target=f"customer:{customer_ids[0]}" if customer_ids else "customer:",
            changes={
                "orders": result.orders_erased,
                "customers": result.customers_erased,
                "kept_open": len(result.orders_kept_open),
            },
        )
    return result


# --- retention ----------------------------------------------------------------------------------


def retention_cutoff(*, now: datetime | None = None, days: int | None = None) -> date:
    """Orders of a delivery day before this are past retention. Days are the company's calendar
    days (a DST day is one day, whatever its hours)."""
    days = settings.PERSONAL_DATA_RETENTION_DAYS if days is None else days
    return timezone.localdate(now or timezone.now()) - timedelta(days=days)


def _still_personal() -> Q:
    return ~Q(customer_name="") | ~Q(phone="") | ~Q(email="") | ~Q(address="") | ~Q(notes="")


def personal_data_expire(*, now: datetime | None = None, days: int | None = None) -> int:
    """Erase the personal data of orders completed before the retention period; returns how many.
    Batches of RETENTION_BATCH, each its own transaction: a long night never holds one big lock."""
    cutoff = retention_cutoff(now=now, days=days)
    erased = 0
    previous: list[int] = []
    while True:
        with transaction.atomic():
            batch = list(
                Order.objects.filter(date__lt=cutoff, status__in=COMPLETED_STATUSES)
                .filter(_still_personal() | Q(proofs__photo__gt="") | Q(tracking_links__isnull=False))
                .values_list("pk", flat=True)
                .distinct()
                .order_by("pk")[:RETENTION_BATCH]
            )
            if not batch or batch == previous:  # nothing left (or nothing changed: never loop forever)
                break
            previous = batch
            _orders_erase(batch)
            customers = list(
                Customer.objects.filter(orders__pk__in=batch)
                .exclude(name="", phone="", email="")
                .values_list("pk", flat=True)
            )
            still_used = Order.objects.filter(customer_id__in=customers).filter(
                Q(date__gte=cutoff) | ~Q(status__in=COMPLETED_STATUSES)
            )
            erased_customers = _customers_erase(
                sorted(set(customers) - set(still_used.values_list("customer_id", flat=True)))
            )
            audit_record(
                actor=None,
                action="personal_data.expired",
                target="order:",
                changes={"orders": batch, "customers": erased_customers, "before": cutoff.isoformat()},
            )
            erased += len(batch)
    return erased
