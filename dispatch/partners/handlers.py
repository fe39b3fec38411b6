"""Handlers of dispatch.events for courier partners (registered in dispatch.events.HANDLERS)."""

from dispatch.partners import tasks as _tasks  # noqa: F401 - registers the tasks the services enqueue by name
from dispatch.partners.planned import plan_partner_orders_hand_off
from dispatch.partners.services import handoffs_of_plan_announce


def on_plan_dispatched(*, plan_id, **_payload) -> None:
    """A dispatched plan's hand-offs go to their partners (each by its signed webhook); then the orders
    the optimizer gave partners are handed over (each sends its own webhook)."""
    handoffs_of_plan_announce(plan_id=plan_id)
    plan_partner_orders_hand_off(plan_id=plan_id)


def on_plan_updated(*, plan_id, **_payload) -> None:
    """A new version of a dispatched plan (an edit) may give partners orders: hand them over."""
    plan_partner_orders_hand_off(plan_id=plan_id)
