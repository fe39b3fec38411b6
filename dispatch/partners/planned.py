"""The hand-offs a plan decided (make or buy, routes.plans.partners), made when it goes out.

A plan that gives orders to courier partners keeps them in `Plan.make_or_buy` while it is a proposal.
When it is dispatched (`plan_dispatched`), or a dispatched plan gets a new version by an edit
(`plan_updated`), each such order is handed to its partner here, exactly as a dispatcher's hand-off
(order dispatched to the partner, its cut-off set, the signed webhook after commit). This lives above
routes.plans, which only announces the events (docs/architecture.md).

Idempotent: an order already with that partner is left alone. An order the partner can no longer
take (its capacity went to a hand-off by hand meanwhile, the order was cancelled) stays out of the
plan with the reason, and an alert asks the dispatcher to plan it.
"""

import logging

from django.db import transaction
from django.utils.translation import gettext_noop

from dispatch.alerts import alert_open, company_text
from dispatch.errors import DispatchError
from dispatch.models import Alert, CourierPartner, Handoff, Order
from dispatch.partners import selectors
from dispatch.partners.services import order_hand_off_planned
from routes.models import Plan, UnassignedOrder

logger = logging.getLogger(__name__)

NOT_TAKEN_TEXT = gettext_noop(
    "Partner %(partner)s could not take order %(reference)s from the plan: %(why)s. Plan it again."
)


def plan_partner_orders_hand_off(*, plan_id: int) -> list[Handoff]:
    """Hand the dispatched plan's partner orders to their partners; returns the hand-offs made now."""
    plan = Plan.objects.filter(pk=plan_id).first()
    if plan is None or plan.dispatched_at is None:
        return []
    groups = (plan.make_or_buy or {}).get("handoffs", [])
    partners = {p.code: p for p in CourierPartner.objects.filter(code__in=[g["partner"] for g in groups])}
    made = []
    for group in groups:
        partner = partners.get(group["partner"])
        for order_id in group["orders"]:
            order = Order.objects.select_related("zone").filter(pk=order_id).first()
            if order is None or partner is None:
                continue
            current = selectors.open_handoff(order)
            if current is not None and current.partner_id == partner.pk:
                continue  # handed over already (a retried event, or an earlier version)
            try:
                made.append(order_hand_off_planned(order=order, partner=partner, plan=plan, by=plan.dispatched_by))
            except DispatchError as refusal:
                _not_taken(plan=plan, order=order, partner=partner, why=str(refusal.message))
    return made


@transaction.atomic
def _not_taken(*, plan: Plan, order: Order, partner: CourierPartner, why: str) -> None:
    logger.info("plan %s: partner %s did not take order %s: %s", plan.pk, partner.code, order.pk, why)
    UnassignedOrder.objects.update_or_create(
        plan=plan, order=order, defaults={"code": "partner", "reason": f"partner {partner.code}: {why}"[:255]}
    )
    alert_open(
        depot_id=order.depot_id,
        kind=Alert.Kind.HANDOFF_RETURNED,
        dedup_key=f"handoff:{order.pk}",
        message=company_text(NOT_TAKEN_TEXT, partner=partner.name, reference=order.reference, why=why),
        order_id=order.pk,
        data={"partner": partner.code, "plan": plan.pk, "status": "not_taken"},
    )
