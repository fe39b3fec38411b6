"""The customer chooses another time on the tracking page ("choose another time").

Offered before the order goes out on the road (new, or planned in a draft) and after a failed
attempt, while the depot's slot policy has self-service on. The windows are those of the slots API
(routes.slots), for the next days the depot offers; the choice moves the order through the same
reschedule as the dispatcher's (routes.plans.rescheduling, under the day's slot lock), then tells the
dispatchers (an alert on their dashboards, in the company's language) and confirms to the customer on
their preferred channel.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from customers.errors import CustomersError
from customers.models import Channel, Event, PromisedWindow
from customers.notifications.outbox import notifications_create, recipients
from customers.notifications.rendering import customer_language, day_label
from dispatch.alerts import alert_open, company_text
from dispatch.models import Alert, Order
from routes.slots.grid import day_offered, policy_for
from routes.slots.selectors import DayOffer, slot_offer
from routes.slots.services import SlotMove, order_size, slot_move_order

S = Order.Status
# Before the driver takes it out, or back after a failed attempt.
SELF_SERVICE_STATUSES = (S.NEW, S.PLANNED, S.FAILED)
# How many days with a free window the page lists.
DAYS_SHOWN = 7

CONFIRMATIONS = {
    "en": "Thank you: your delivery {reference} is now planned for {day} between {start} and {end}, as you chose.",
    "de": "Danke: Ihre Lieferung {reference} ist jetzt wie gewünscht für den {day} zwischen {start} und {end} Uhr "
    "geplant.",
}


@dataclass
class SelfService:
    allowed: bool
    reason_code: str | None = None  # "status" (on the road or done) or "self_service_off"


def self_service_for(order: Order) -> SelfService:
    if order.status not in SELF_SERVICE_STATUSES:
        return SelfService(allowed=False, reason_code="status")
    if not policy_for(order.depot).self_service:
        return SelfService(allowed=False, reason_code="self_service_off")
    return SelfService(allowed=True)


def tracking_slot_days(order: Order, *, now=None) -> list[DayOffer]:
    """The next days (from today, up to the policy's horizon) that have a window the order fits in."""
    now = now or timezone.now()
    policy = policy_for(order.depot)
    today = timezone.localdate(now)
    days: list[DayOffer] = []
    for offset in range(int(policy.days_ahead) + 1):
        day = today + timedelta(days=offset)
        if not day_offered(day, policy):
            continue
        offer = slot_offer(
            depot=order.depot, day=day, lat=order.lat, lon=order.lon, size=order_size(order), now=now,
            exclude_order_id=order.pk, for_customer=True,
        )  # fmt: skip
        if any(slot.available for slot in offer.slots):
            days.append(offer)
        if len(days) >= DAYS_SHOWN:
            break
    return days


def tracking_reschedule(*, order: Order, day: date, start: str, end: str) -> SlotMove:
    """The customer's choice: move the order, tell the dispatchers, confirm to the customer."""
    allowed = self_service_for(order)
    if not allowed.allowed:
        message = (
            _("Choosing a time online is turned off; please send us a message")
            if allowed.reason_code == "self_service_off"
            else _("This delivery can no longer be moved here; please send us a message")
        )
        raise CustomersError(message, field="date", value=day.isoformat(), status_code=409)
    with transaction.atomic():
        move = slot_move_order(order=order, day=day, start=start, end=end, for_customer=True)
        moved = move.order
        # The promise of the old day no longer holds: the next plan makes a new one for the new time.
        PromisedWindow.objects.filter(order=moved).delete()
        alert_open(
            depot_id=moved.depot_id, kind=Alert.Kind.OTHER, dedup_key=f"self_rescheduled:{moved.pk}",
            message=company_text(
                gettext_noop("The customer moved %(reference)s to %(day)s, %(start)s–%(end)s"),
                reference=moved.reference, day=f"{day:%d.%m.%Y}", start=move.slot.start_label,
                end=move.slot.end_label,
            ),
            order_id=moved.pk,
            data={"event": "self_rescheduled", "date": day.isoformat(), "start": move.slot.start_label,
                  "end": move.slot.end_label},
        )  # fmt: skip
        _confirm(moved, move)
    return move


def _confirm(order: Order, move: SlotMove) -> None:
    """The confirmation on the customer's preferred channel (SMS when they take SMS, else e-mail), as a
    dispatcher's reply would go; the webhook hears of it too."""
    language = customer_language(order)
    text = CONFIRMATIONS.get(language, CONFIRMATIONS["en"]).format(
        reference=order.reference, day=day_label(order.date, language), start=move.slot.start_label,
        end=move.slot.end_label,
    )  # fmt: skip
    channels = [channel for channel, _recipient, _skip in recipients(order) if channel != Channel.WEBHOOK]
    preferred = Channel.SMS if Channel.SMS in channels else (channels[0] if channels else None)
    notifications_create(
        order=order, event=Event.REPLY, occasion=f"self-rescheduled:{timezone.now().isoformat()}",
        extra={"text": text}, only_channel=preferred or Channel.WEBHOOK,
    )  # fmt: skip
