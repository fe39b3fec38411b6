"""Writes of courier partners: the partners and their logins, handing an order to a partner, and what
the partner then does with it (accept, reject, arrive, deliver with proof, fail).

Every status change of the order goes through dispatch.orders.services.order_change_status, exactly
as for our own drivers, so the history, the dashboards and the customer's messages are the same.

While a partner has an order, the order is `dispatched` (it left our planning): the planner only
takes `new` and `planned` orders, so a handed-off order is never planned onto our routes as well.
A rejection or a missed cut-off returns it to `new` with an alert (handoff_return).
"""

import secrets
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from rest_framework.exceptions import PermissionDenied

from config.tasks import enqueue
from dispatch import events
from dispatch.alerts import alert_open, alerts_resolve_keys, company_text
from dispatch.audit import audit_record
from dispatch.driver_app.services import (
    ProofImage,
    action_happened_at,
    check_fail_reason,
    check_proof_given,
    deliver_with_proof,
)
from dispatch.errors import DispatchError, InvalidTransition
from dispatch.geometry import ZoneLocator
from dispatch.live import broadcast
from dispatch.models import Alert, CourierPartner, Handoff, Order, Zone
from dispatch.orders.services import order_change_status, status_word
from dispatch.partners import selectors
from dispatch.roles import PARTNER
from routes.models import UnassignedOrder
from routes.plans.editing import plan_edit

S = Order.Status
H = Handoff.Status

# Orders a dispatcher may hand over: not yet with a driver at the door (en route and later stay ours).
HANDABLE_STATUSES = (S.NEW, S.PLANNED, S.DISPATCHED)
# A hand-off made after the partner's cut-off (a same-day hand-off by hand) still gives the partner
# this long to answer before the order comes back.
MIN_ANSWER_MINUTES = getattr(settings, "PARTNER_MIN_ANSWER_MINUTES", 30)
WEBHOOK_TASK = "dispatch.partners.tasks.send_handoff_webhook"
EXPIRE_TASK = "dispatch.partners.tasks.expire_handoff"
WITHDRAWAL_TASK = "dispatch.partners.tasks.send_withdrawal_webhook"
# What a partner's courier may still be taken off: not yet at the door.
TAKE_BACK_STATUSES = (S.DISPATCHED,)


# --- Partners and their logins -------------------------------------------------------------------


@transaction.atomic
def partner_create(*, by, code: str, name: str, zones: list[str] = (), **fields) -> CourierPartner:
    """A new courier partner; `zones` are zone codes, every other field as on CourierPartner."""
    if CourierPartner.objects.filter(code=code).exists():
        raise DispatchError(_("Partner code %(code)s is taken") % {"code": repr(code)}, field="code", value=code)
    found = {zone.code: zone for zone in Zone.objects.filter(code__in=list(zones))}
    unknown = [zone for zone in zones if zone not in found]
    if unknown:
        raise DispatchError(_("Unknown zone %(zone)s") % {"zone": repr(unknown[0])}, field="zones", value=unknown[0])
    if fields.get("area"):
        try:
            ZoneLocator([SimpleNamespace(polygon=fields["area"])])
        except (ValueError, TypeError, KeyError, IndexError):
            raise DispatchError(
                _("area is not a GeoJSON Polygon"), field="area", value=str(fields["area"])[:80]
            ) from None
    fields.setdefault("webhook_secret", secrets.token_hex(32))
    partner = CourierPartner.objects.create(code=code, name=name, **fields)
    partner.zones.set(found.values())
    audit_record(actor=by, action="partner.created", target=partner, changes={"code": code, "name": name})
    return partner


@transaction.atomic
def partner_user_create(*, by, partner: CourierPartner, username: str, password: str):
    """A login for a partner's staff: group `partner`, seeing only the orders handed to this partner."""
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise DispatchError(
            _("Username %(username)s is taken") % {"username": repr(username)}, field="username", value=username
        )
    user = User.objects.create_user(username=username, password=password)
    user.groups.add(Group.objects.get_or_create(name=PARTNER)[0])
    partner.users.add(user)
    audit_record(actor=by, action="partner.user_created", target=partner, changes={"username": username})
    return user


# --- What a hand-off costs and by when it must be accepted ---------------------------------------


def handoff_price_parts(*, partner: CourierPartner, order: Order) -> dict[str, Decimal]:
    """The price's parts: "stop" (per stop), "kg" (per kilogram × the order's weight), "zone" (the
    partner's extra for the order's zone), each rounded to the cent, so the parts add up to the cost."""
    return partner.price_parts(order)  # the planner's make-or-buy prices alike (routes.plans.partners)


def handoff_cost(*, partner: CourierPartner, order: Order) -> Decimal:
    """Per stop, plus per kilogram, plus the partner's extra for the order's zone."""
    return sum(handoff_price_parts(partner=partner, order=order).values(), Decimal("0.00"))


def handoff_cutoff_at(*, partner: CourierPartner, day) -> datetime:
    """The partner's cut-off for a delivery day (CourierPartner.cutoff_at: the planner shares the rule)."""
    return partner.cutoff_at(day)


def partner_refusal(*, partner: CourierPartner, order: Order) -> tuple[str, str, object] | None:
    """Why this partner cannot take this order, as (message, field, value), or None."""
    if not partner.active:
        return _("Partner %(partner)s is not active") % {"partner": partner.code}, "partner", partner.code
    if partner.days and order.date.isoweekday() not in partner.days:
        return (
            _("Partner %(partner)s does not deliver on %(day)s")
            % {"partner": partner.code, "day": order.date.isoformat()},
            "partner",
            partner.code,
        )
    missing = sorted(set(order.skills or []) - set(partner.skills or []))
    if missing:
        return (
            _("Partner %(partner)s lacks the skill %(skill)s") % {"partner": partner.code, "skill": missing[0]},
            "partner",
            partner.code,
        )
    zones = list(partner.zones.all())
    if zones or partner.area:
        # Its zones (the order's zone, or the point inside one: an order imported before the zone was
        # drawn has none) or its own polygon.
        shapes = zones + ([SimpleNamespace(polygon=partner.area)] if partner.area else [])
        inside = order.zone_id in {zone.id for zone in zones} or ZoneLocator(shapes).locate(order.lat, order.lon)
        if not inside:
            return (
                _("Order %(reference)s is outside partner %(partner)s's area")
                % {"reference": order.reference, "partner": partner.code},
                "partner",
                partner.code,
            )
    taken = Handoff.objects.filter(
        partner=partner, order__date=order.date, status__in=[H.OFFERED, H.ACCEPTED, H.DELIVERED, H.FAILED]
    ).aggregate(stops=Count("id"), kg=Sum("order__weight_kg"))
    if partner.capacity_stops and taken["stops"] + 1 > partner.capacity_stops:
        return (
            _("Partner %(partner)s is full on %(day)s (%(stops)s stops)")
            % {"partner": partner.code, "day": order.date.isoformat(), "stops": partner.capacity_stops},
            "partner",
            partner.code,
        )
    if partner.capacity_kg is not None and (taken["kg"] or 0) + order.weight_kg > partner.capacity_kg:
        return (
            _("Partner %(partner)s is full on %(day)s (%(kg)s kg)")
            % {"partner": partner.code, "day": order.date.isoformat(), "kg": partner.capacity_kg},
            "partner",
            partner.code,
        )
    return None


def partners_eligible(order: Order) -> list[tuple[CourierPartner, Decimal]]:
    """The partners that could take this order now (active that day, its area, skills and capacity),
    each with its price, cheapest first: what the order page offers. A read, kept beside
    partner_refusal, whose checks it is (the hand-off repeats them under its lock)."""
    offers = [
        (partner, handoff_cost(partner=partner, order=order))
        for partner in CourierPartner.objects.filter(active=True).prefetch_related("zones").order_by("code")
        if partner_refusal(partner=partner, order=order) is None
    ]
    return sorted(offers, key=lambda offer: (offer[1], offer[0].code))


# --- Handing an order over -----------------------------------------------------------------------


def order_hand_off(*, order: Order, partner: CourierPartner, by, reason: str = "") -> Handoff:
    """A dispatcher hands an order to a partner by hand.

    An order on one of our routes first leaves it through the plan edit service (a dispatched plan
    gets a new version, so its driver sees the stop go). Then, in one transaction, the order becomes
    dispatched to the partner; after commit the partner is told (signed webhook) and its cut-off is set.
    """
    order = Order.objects.select_related("zone").get(pk=order.pk)
    _check_handable(order=order, partner=partner)
    plan = selectors.order_route_plan(order)
    if plan is not None:
        # Slow (matrices, re-timing): outside the hand-off's transaction, as plan_edit expects.
        plan = plan_edit(
            plan=plan, operations=[{"op": "unassign", "order": order.pk}], by=by,
            reason=f"handed to partner {partner.code}",
        )  # fmt: skip
    return _hand_off(order=order, partner=partner, by=by, reason=reason, plan=plan)


def order_hand_off_planned(*, order: Order, partner: CourierPartner, plan, by) -> Handoff:
    """The optimizer's hand-off (make or buy), when its plan goes out: the order is on none of our
    routes (dispatch.partners.planned calls this on the plan's dispatch)."""
    return _hand_off(order=order, partner=partner, by=by, reason="make or buy: planned", plan=plan)


def _check_handable(*, order: Order, partner: CourierPartner) -> None:
    if order.status not in HANDABLE_STATUSES:
        raise InvalidTransition(
            _("Order %(reference)s is %(status)s; only an order not yet on its way can be handed to a partner")
            % {"reference": order.reference, "status": status_word(order.status)},
            field="status",
            value=order.status,
        )
    current = selectors.open_handoff(order)
    if current is not None:
        raise InvalidTransition(
            _("Order %(reference)s is already with partner %(partner)s")
            % {"reference": order.reference, "partner": current.partner.code},
            field="partner",
            value=current.partner.code,
        )
    refusal = partner_refusal(partner=partner, order=order)
    if refusal:
        message, field, value = refusal
        raise DispatchError(message, field=field, value=value)


@transaction.atomic
def _hand_off(*, order: Order, partner: CourierPartner, by, reason: str, plan) -> Handoff:
    locked = Order.objects.select_for_update(of=("self",)).select_related("zone").get(pk=order.pk)
    _check_handable(order=locked, partner=partner)
    now = timezone.now()
    note = f"handed to partner {partner.code}"
    for step in _steps_to_dispatched(locked.status):
        locked = order_change_status(order=locked, to_status=step, by=by, reason="handoff", note=note)
    cutoff_at = max(handoff_cutoff_at(partner=partner, day=locked.date), now + timedelta(minutes=MIN_ANSWER_MINUTES))
    try:
        with transaction.atomic():
            parts = handoff_price_parts(partner=partner, order=locked)
            handoff = Handoff.objects.create(
                order=locked, partner=partner, plan=plan, cost=sum(parts.values(), Decimal("0.00")),
                price_parts={name: str(value) for name, value in parts.items()}, cutoff_at=cutoff_at, offered_by=by if getattr(by, "is_authenticated", False) else None,
                offered_at=now, reason=reason[:500], webhook_key=uuid.uuid4().hex,
            )  # fmt: skip
    except IntegrityError:
        # Two dispatchers' clicks at once: the partial unique constraint lets one hand-off stand.
        raise InvalidTransition(
            _("Order %(reference)s is already with a partner") % {"reference": locked.reference},
            field="partner",
            value=partner.code,
        ) from None
    audit_record(
        actor=by, action="order.handed_off", target=locked,
        changes={"partner": partner.code, "cost": handoff.cost, "cutoff_at": cutoff_at, "plan": getattr(plan, "pk", None)},
    )  # fmt: skip
    if plan is not None:
        # Not "unassigned" in the plan either: it is the plan's hand-off now (GET /api/plans/{id}/ handoffs).
        # Left there, the next edit of a dispatched version would carry it as left out and take it back
        # to `new` (routes.plans.saving.mark_orders_dispatched) while the partner has it.
        UnassignedOrder.objects.filter(plan=plan, order=locked).delete()
    # A return alert of an earlier hand-off of this order is answered by this one.
    alerts_resolve_keys([f"handoff:{locked.pk}"])
    handoff_id = handoff.pk
    transaction.on_commit(lambda: enqueue(WEBHOOK_TASK, handoff_id))
    transaction.on_commit(lambda: enqueue(EXPIRE_TASK, handoff_id, eta=cutoff_at))
    return handoff


def _steps_to_dispatched(status: str) -> list[str]:
    # The lifecycle has no shortcuts: new → planned → dispatched, each step recorded.
    return {S.NEW: [S.PLANNED, S.DISPATCHED], S.PLANNED: [S.DISPATCHED]}.get(status, [])


# --- Back to planning ----------------------------------------------------------------------------

RETURN_TEXTS = {
    H.REJECTED: gettext_noop("Partner %(partner)s rejected order %(reference)s: %(why)s. It is back in planning."),
    H.EXPIRED: gettext_noop(
        "Partner %(partner)s did not accept order %(reference)s by its cut-off. It is back in planning."
    ),
}


def _return_to_planning(*, handoff: Handoff, status: str, by, why: str = "", at: datetime) -> Handoff:
    """Close the hand-off and bring its order back to `new` with an alert; inside a transaction."""
    order = Order.objects.select_for_update().get(pk=handoff.order_id)
    if order.status not in (S.DISPATCHED, S.PLANNED):
        # Cancelled (or moved on) meanwhile: nothing comes back to planning and nobody needs an alert.
        handoff.status, handoff.closed_at = H.WITHDRAWN, at
        handoff.save(update_fields=["status", "closed_at"])
        return handoff
    handoff.status, handoff.closed_at = status, at
    if why:
        handoff.reason = why[:500]
    handoff.save(update_fields=["status", "closed_at", "reason"])
    note = f"returned by partner {handoff.partner.code}: {status}"
    for step in {S.DISPATCHED: [S.PLANNED, S.NEW], S.PLANNED: [S.NEW]}.get(order.status, []):
        order = order_change_status(order=order, to_status=step, by=by, reason="handoff_" + status, note=note)
    alert_open(
        depot_id=order.depot_id,
        kind=Alert.Kind.HANDOFF_RETURNED,
        dedup_key=f"handoff:{order.pk}",
        message=company_text(
            RETURN_TEXTS[status], partner=handoff.partner.name, reference=order.reference, why=why or "-"
        ),
        order_id=order.pk,
        data={"partner": handoff.partner.code, "handoff": handoff.pk, "status": status},
    )
    audit_record(
        actor=by, action=f"handoff.{status}", target=order, changes={"partner": handoff.partner.code, "why": why}
    )
    return handoff


@transaction.atomic
def handoff_reject(*, handoff: Handoff, by, reason: str) -> Handoff:
    """The partner will not take it (any time before it reached the door)."""
    handoff = Handoff.objects.select_for_update(of=("self",)).select_related("partner", "order").get(pk=handoff.pk)
    if not reason.strip():
        raise DispatchError(_("Say why the order is rejected"), field="reason", value=reason)
    if handoff.status not in Handoff.OPEN_STATUSES or handoff.order.status != S.DISPATCHED:
        raise InvalidTransition(
            _("Order %(reference)s can no longer be rejected (%(status)s)")
            % {"reference": handoff.order.reference, "status": handoff.get_status_display().lower()},
            field="status",
            value=handoff.status,
        )
    return _return_to_planning(handoff=handoff, status=H.REJECTED, by=by, why=reason.strip(), at=timezone.now())


@transaction.atomic
def handoff_expire(*, handoff_id: int, now: datetime | None = None) -> bool:
    """A hand-off still not accepted at its cut-off goes back to planning; False when nothing was due.

    Idempotent: the scheduled run at the cut-off and the minute sweep may both come; the row lock and
    the status check let one act.
    """
    now = now or timezone.now()
    handoff = (
        Handoff.objects.select_for_update(of=("self",))
        .select_related("partner")
        .filter(pk=handoff_id, status=H.OFFERED, cutoff_at__lte=now)
        .first()
    )
    if handoff is None:
        return False
    _return_to_planning(handoff=handoff, status=H.EXPIRED, by=None, at=now)
    return True


def handoffs_expire_due(*, now: datetime | None = None) -> int:
    """Every offered hand-off past its cut-off (beat, each minute: covers scheduled runs lost in a restart)."""
    now = now or timezone.now()
    due = Handoff.objects.filter(status=H.OFFERED, cutoff_at__lte=now).values_list("pk", flat=True)
    return sum(handoff_expire(handoff_id=pk, now=now) for pk in list(due))


# --- What the partner does -----------------------------------------------------------------------


def _locked_for_action(handoff: Handoff) -> tuple[Handoff, Order]:
    handoff = Handoff.objects.select_for_update(of=("self",)).select_related("partner").get(pk=handoff.pk)
    order = Order.objects.select_for_update().get(pk=handoff.order_id)
    return handoff, order


def _refuse_closed(handoff: Handoff, order: Order, action: str) -> None:
    raise InvalidTransition(
        _("Order %(reference)s is %(status)s; it cannot be marked %(action)s")
        % {"reference": order.reference, "status": status_word(order.status), "action": status_word(action)},
        field="status",
        value=order.status,
    )


@transaction.atomic
def handoff_accept(
    *, handoff: Handoff, by, occurred_at: datetime | None = None, received_at: datetime | None = None
) -> Handoff:
    """The partner takes the order; by its cut-off. Accepting twice answers the first acceptance."""
    handoff, order = _locked_for_action(handoff)
    received_at = received_at or timezone.now()
    if handoff.status == H.ACCEPTED:
        return handoff
    if handoff.status != H.OFFERED:
        _refuse_closed(handoff, order, "accepted")
    at = action_happened_at(order, occurred_at=occurred_at, received_at=received_at)
    if at > handoff.cutoff_at:
        raise InvalidTransition(
            _("The cut-off for order %(reference)s was %(cutoff)s; it can no longer be accepted")
            % {
                "reference": order.reference,
                "cutoff": timezone.localtime(handoff.cutoff_at).isoformat(timespec="minutes"),
            },
            field="occurred_at",
            value=at.isoformat(),
        )
    handoff.status, handoff.accepted_at, handoff.occurred_at = H.ACCEPTED, at, at
    handoff.save(update_fields=["status", "accepted_at", "occurred_at"])
    audit_record(actor=by, action="handoff.accepted", target=order, changes={"partner": handoff.partner.code})
    # The customer hears "scheduled" with its window, as when our own plan is dispatched (customers.handlers).
    payload = {"order_id": order.pk, "handoff_id": handoff.pk, "partner_id": handoff.partner_id}
    transaction.on_commit(lambda: events.handoff_accepted(**payload))
    return handoff


def _accept_implied(handoff: Handoff, at: datetime) -> None:
    # A partner that reports the delivery without having pressed accept has plainly accepted it.
    if handoff.status == H.OFFERED:
        handoff.status, handoff.accepted_at = H.ACCEPTED, at


@transaction.atomic
def handoff_arrive(
    *, handoff: Handoff, by, lat=None, lon=None, occurred_at: datetime | None = None, received_at=None
) -> Order:
    handoff, order = _locked_for_action(handoff)
    if handoff.status not in Handoff.OPEN_STATUSES or order.status != S.DISPATCHED:
        _refuse_closed(handoff, order, S.ARRIVED)
    at = action_happened_at(order, occurred_at=occurred_at, received_at=received_at or timezone.now())
    _accept_implied(handoff, at)
    handoff.occurred_at = at
    handoff.save(update_fields=["status", "accepted_at", "occurred_at"])
    return order_change_status(order=order, to_status=S.ARRIVED, by=by, lat=lat, lon=lon, at=at, reason="partner")


@transaction.atomic
def handoff_deliver(
    *,
    handoff: Handoff,
    by,
    recipient_name: str = "",
    photo: ProofImage | None = None,
    signature: ProofImage | None = None,
    note: str = "",
    lat=None,
    lon=None,
    occurred_at: datetime | None = None,
    received_at: datetime | None = None,
) -> Order:
    """Delivered with its proof (as the driver app: a name, a photo or a signature)."""
    check_proof_given(recipient_name, photo, signature)
    handoff, order = _locked_for_action(handoff)
    if handoff.status not in Handoff.OPEN_STATUSES or order.status not in (S.DISPATCHED, S.ARRIVED):
        _refuse_closed(handoff, order, S.DELIVERED)
    received_at = received_at or timezone.now()
    at = action_happened_at(order, occurred_at=occurred_at, received_at=received_at)
    _accept_implied(handoff, at)
    order, _proof = deliver_with_proof(
        order=order, by=by, source="partner", recipient_name=recipient_name, photo=photo, signature=signature,
        note=note, lat=lat, lon=lon, at=at, received_at=received_at,
    )  # fmt: skip
    handoff.status, handoff.occurred_at, handoff.closed_at = H.DELIVERED, at, received_at
    handoff.save(update_fields=["status", "accepted_at", "occurred_at", "closed_at"])
    return order


@transaction.atomic
def handoff_fail(
    *, handoff: Handoff, by, reason: str, note: str = "", lat=None, lon=None, occurred_at=None, received_at=None
) -> Order:
    check_fail_reason(reason, note)
    handoff, order = _locked_for_action(handoff)
    if handoff.status not in Handoff.OPEN_STATUSES or order.status not in (S.DISPATCHED, S.ARRIVED):
        _refuse_closed(handoff, order, S.FAILED)
    received_at = received_at or timezone.now()
    at = action_happened_at(order, occurred_at=occurred_at, received_at=received_at)
    _accept_implied(handoff, at)
    order = order_change_status(
        order=order, to_status=S.FAILED, by=by, lat=lat, lon=lon, at=at, reason=reason, note=note
    )
    handoff.status, handoff.occurred_at, handoff.closed_at = H.FAILED, at, received_at
    handoff.reason = reason
    handoff.save(update_fields=["status", "accepted_at", "occurred_at", "closed_at", "reason"])
    return order


@transaction.atomic
def handoff_take_back(*, order: Order, by, reason: str = "") -> Handoff:
    """A dispatcher takes an order back from its partner before the partner is at the door.

    The hand-off is withdrawn, the order goes back to planning (`new`, each step recorded), and after
    commit the partner is told by a signed webhook of its own (when it was told of the offer).
    """
    order = Order.objects.select_for_update().get(pk=order.pk)
    handoff = (
        Handoff.objects.select_for_update(of=("self",))
        .select_related("partner")
        .filter(order=order, status__in=Handoff.OPEN_STATUSES)
        .first()
    )
    if handoff is None:
        raise InvalidTransition(
            _("Order %(reference)s is with no partner") % {"reference": order.reference}, field="order", value=order.pk
        )
    if order.status not in TAKE_BACK_STATUSES:
        raise InvalidTransition(
            _("Order %(reference)s is %(status)s; partner %(partner)s already has it at the door")
            % {"reference": order.reference, "status": status_word(order.status), "partner": handoff.partner.code},
            field="status",
            value=order.status,
        )
    now = timezone.now()
    handoff.status, handoff.closed_at = H.WITHDRAWN, now
    if reason.strip():
        handoff.reason = reason.strip()[:500]
    handoff.save(update_fields=["status", "closed_at", "reason"])
    note = f"taken back from partner {handoff.partner.code}"
    for step in (S.PLANNED, S.NEW):
        order = order_change_status(order=order, to_status=step, by=by, reason="handoff_withdrawn", note=note)
    audit_record(
        actor=by, action="handoff.withdrawn", target=order,
        changes={"partner": handoff.partner.code, "reason": reason.strip()[:500]},
    )  # fmt: skip
    # A return alert of this order (an earlier rejection) is moot: the dispatcher has it in hand.
    alerts_resolve_keys([f"handoff:{order.pk}"])
    if handoff.partner.webhook_url and (handoff.webhook_sent_at or handoff.webhook_attempts):
        # Only a partner that was (or may have been) told of the offer needs telling it is off.
        handoff_id = handoff.pk
        transaction.on_commit(lambda: enqueue(WITHDRAWAL_TASK, handoff_id))
    return handoff


def partner_positions_record(*, partner: CourierPartner, order_id: int, positions: list[dict]) -> Handoff:
    """A partner's courier on the way to one of its orders: the newest position is kept on the hand-off
    and passed to that order's tracking page, exactly as our driver's (dispatch.live.broadcast).

    Only for a partner that shares positions (CourierPartner.shares_position), while it has the order
    and is not yet done with it. An older position than the one kept changes nothing.
    """
    if not partner.shares_position:
        raise PermissionDenied(
            _("Partner %(partner)s does not share its couriers' positions; the company turns that on")
            % {"partner": partner.code}
        )
    handoff = selectors.partner_handoff(partner=partner, order_id=order_id)
    newest = max(positions, key=lambda position: position["recorded_at"])
    with transaction.atomic():
        handoff = Handoff.objects.select_for_update(of=("self",)).select_related("order").get(pk=handoff.pk)
        if handoff.status not in Handoff.OPEN_STATUSES or handoff.order.status not in (S.DISPATCHED, S.ARRIVED):
            raise InvalidTransition(
                _("Order %(reference)s is %(status)s; its courier's position is no longer shown")
                % {"reference": handoff.order.reference, "status": status_word(handoff.order.status)},
                field="order",
                value=order_id,
            )
        if handoff.courier_position_at is not None and newest["recorded_at"] <= handoff.courier_position_at:
            return handoff
        first = handoff.courier_position_at is None
        handoff.courier_lat, handoff.courier_lon = newest["lat"], newest["lon"]
        handoff.courier_position_at = newest["recorded_at"]
        handoff.save(update_fields=["courier_lat", "courier_lon", "courier_position_at"])
        message = {"driver": None, "lat": newest["lat"], "lon": newest["lon"],
                   "recorded_at": newest["recorded_at"].isoformat()}  # fmt: skip
        transaction.on_commit(lambda: _courier_moved(order_id=handoff.order_id, message=message, first=first))
    return handoff


def _courier_moved(*, order_id: int, message: dict, first: bool) -> None:
    # The tracking socket forwards positions only once its state shows one: the first re-reads the state.
    group = [broadcast.order_group(order_id)]
    broadcast.broadcast(group, "tracking.refresh" if first else "driver.position", {} if first else message)


def handoffs_of_plan_announce(*, plan_id: int) -> int:
    """On a plan's dispatch: the hand-offs it made whose partner was not yet told get their webhook."""
    pending = list(
        Handoff.objects.filter(plan_id=plan_id, status=H.OFFERED, webhook_sent_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    for handoff_id in pending:
        transaction.on_commit(lambda handoff_id=handoff_id: enqueue(WEBHOOK_TASK, handoff_id))
    return len(pending)


__all__ = [
    "handoff_accept",
    "handoff_arrive",
    "handoff_cost",
    "handoff_cutoff_at",
    "handoff_deliver",
    "handoff_expire",
    "handoff_fail",
    "handoff_reject",
    "handoff_take_back",
    "partner_positions_record",
    "handoffs_expire_due",
    "order_hand_off",
    "partner_create",
    "partners_eligible",
    "partner_user_create",
]
