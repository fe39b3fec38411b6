"""Event handlers (dispatch.events HANDLERS): keep the facts of a day fresh after it changes."""

from analytics.services import arrival_eta_record
from analytics.tasks import order_facts_refresh_day
from config.tasks import enqueue
from dispatch.models import Order
from routes.models import Plan

# Status changes that alter a KPI: arrivals, outcomes, and the re-opening of a failed order.
_RELEVANT = {"en_route", "arrived", "delivered", "failed", "new", "cancelled"}


def on_order_status_changed(*, order_id, depot_id, to_status, from_status="", at=None, **_):
    if to_status not in _RELEVANT:
        return
    # The arrival (or the outcome when the driver never tapped "arrived"): keep the ETAs it is measured against.
    if at is not None and to_status in ("arrived", "delivered", "failed") and from_status != "arrived":
        arrival_eta_record(order_id=order_id, at=at)

    day = Order.objects.filter(pk=order_id).values_list("date", flat=True).first()
    if day is not None:
        enqueue(order_facts_refresh_day, day.isoformat(), depot_id)


def on_plan_dispatched(*, plan_id, **_):
    plan = Plan.objects.filter(pk=plan_id).values("date", "depot_id").first()
    if plan is not None:
        enqueue(order_facts_refresh_day, plan["date"].isoformat(), plan["depot_id"])
