"""Reads of courier partners: which partner a login belongs to, the orders handed to it, and the plan
route an order is on (to take it off before handing it over)."""

from datetime import date

from django.db.models import QuerySet
from django.utils.translation import gettext
from rest_framework.exceptions import NotFound

from dispatch.models import CourierPartner, Handoff, Order
from dispatch.roles import partner_ids
from routes.models import Plan, Stop
from routes.plans.selectors import latest_dispatched_plan

H = Handoff.Status
# What a partner sees: what it has, and what it did with it. A rejected or expired hand-off is no
# longer the partner's business (the order is ours again, maybe another partner's): 404.
PARTNER_VISIBLE = (H.OFFERED, H.ACCEPTED, H.DELIVERED, H.FAILED)


def partners_list() -> QuerySet[CourierPartner]:
    return CourierPartner.objects.prefetch_related("zones").order_by("code")


def partner_by_code(code: str) -> CourierPartner:
    partner = CourierPartner.objects.filter(code=code).first()
    if partner is None:
        raise NotFound(gettext("No partner %(code)s") % {"code": repr(code)})
    return partner


def partner_for_user(user) -> CourierPartner:
    """The partner a partner login acts for (a login belongs to one partner; the first if more)."""
    ids = partner_ids(user)
    return CourierPartner.objects.filter(id__in=ids).order_by("id").first()


def partner_handoffs(*, partner: CourierPartner, day: date | None = None) -> QuerySet[Handoff]:
    handoffs = Handoff.objects.filter(partner=partner, status__in=PARTNER_VISIBLE).select_related("order", "partner")
    if day is not None:
        handoffs = handoffs.filter(order__date=day)
    return handoffs.order_by("order__date", "order__window_start", "order__reference")


def partner_handoff(*, partner: CourierPartner, order_id: int) -> Handoff:
    """This partner's hand-off of the order; another partner's order (or none) is a 404, as if absent."""
    handoff = partner_handoffs(partner=partner).filter(order_id=order_id).order_by("-offered_at", "-id").first()
    if handoff is None:
        raise NotFound(gettext("No such order"))
    return handoff


def latest_handoff(order: Order) -> Handoff | None:
    """The order's newest hand-off, whatever became of it (the order page shows it)."""
    return Handoff.objects.filter(order=order).select_related("partner").order_by("-offered_at", "-id").first()


def open_handoff(order: Order) -> Handoff | None:
    return Handoff.objects.filter(order=order, status__in=Handoff.OPEN_STATUSES).select_related("partner").first()


def order_route_plan(order: Order) -> Plan | None:
    """The plan whose route the order is on and that drivers follow or will follow: the newest dispatched
    version of its day, else the newest selected plan not yet dispatched; None when on no route."""
    plans = {
        stop.route.plan
        for stop in Stop.objects.filter(
            order=order, route__plan__status=Plan.Status.DONE, route__plan__state=Plan.State.ACTIVE
        ).select_related("route__plan")
    }
    dispatched = [plan for plan in plans if plan.dispatched_at is not None]
    if dispatched:
        newest = max(dispatched, key=lambda plan: plan.version)
        followed = latest_dispatched_plan(day=newest.date, depot_id=newest.depot_id)
        return newest if followed is not None and followed.pk == newest.pk else None
    waiting = [plan for plan in plans if plan.selected]
    return max(waiting, key=lambda plan: plan.version) if waiting else None
