"""Handlers of dispatch.events for courier partners (registered in dispatch.events.HANDLERS)."""

from dispatch.partners import tasks as _tasks  # noqa: F401 - registers the tasks the services enqueue by name
from dispatch.partners.services import handoffs_of_plan_announce


def on_plan_dispatched(*, plan_id, **_payload) -> None:
    """A dispatched plan's hand-offs go to their partners (each by its signed webhook)."""
    handoffs_of_plan_announce(plan_id=plan_id)
