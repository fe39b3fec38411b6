"""Lifting a closure repairs only the routes the closure had changed (issue 14): a route it never
touched was never planned around it, so the reopened road cannot shorten it, and its driver and
customers are left alone."""

import time_machine

from routes.closures.services import closure_lift
from routes.models import ClosureApplication, Plan, Stop
from tests.routes.test_replan_guard_rails import at, busy_route, the_replan
from tests.routes.test_replan_live_baseline import close_a_through_road_on, two_vans_driving  # noqa: F401


def stops_of(plan: Plan, vehicle_id: int) -> list:
    return list(
        Stop.objects.filter(route__plan=plan, route__vehicle_id=vehicle_id)
        .order_by("sequence")
        .values_list("order_id", "eta", "etd")
    )


def test_lifting_a_closure_repairs_only_the_routes_it_changed(
    two_vans_driving,  # noqa: F811
    dispatcher_a,
    django_capture_on_commit_callbacks,
    settings,
):
    settings.REPLAN_AUTO_APPLY_MAX_ETA_SHIFT_MIN = 600  # the closure's re-plan applies by itself
    morning = two_vans_driving
    route = busy_route(morning)
    other = morning.routes.exclude(pk=route.pk).get()
    with time_machine.travel(at(9, 40), tick=True):
        closure = close_a_through_road_on(route, dispatcher_a, django_capture_on_commit_callbacks)
        around = the_replan(morning)
        assert around.state == "active" and around.request["replan"]["vehicles"] == [route.vehicle_id]
        with django_capture_on_commit_callbacks(execute=True):
            closure_lift(closure=closure, by=dispatcher_a)
    [reopened_id] = ClosureApplication.objects.get(closure_id=closure.pk, version=2).new_plans
    reopened = Plan.objects.get(pk=reopened_id)
    assert reopened.parent_id == around.pk and reopened.status == "done", reopened.error
    # Only the route the closure had changed is repaired; the other is copied to the second.
    assert reopened.request["replan"]["vehicles"] == [route.vehicle_id]
    assert (
        stops_of(reopened, other.vehicle_id)
        == stops_of(around, other.vehicle_id)
        == stops_of(morning, other.vehicle_id)
    )
    assert {o for o, *_ in stops_of(reopened, route.vehicle_id)} == {o for o, *_ in stops_of(morning, route.vehicle_id)}


def test_lifting_a_closure_that_changed_no_route_replans_nothing(
    two_vans_driving,  # noqa: F811
    dispatcher_a,
    django_capture_on_commit_callbacks,
):
    from routes.closures.services import closure_create
    from tests.routes.test_replan_guard_rails import square

    morning = two_vans_driving
    with time_machine.travel(at(9, 40), tick=True):
        with django_capture_on_commit_callbacks(execute=True):
            closure = closure_create(geometry=square(47.245, 9.55, 30), reason="fair", by=dispatcher_a)  # a field
        assert ClosureApplication.objects.get(closure_id=closure.pk, version=1).new_plans == []
        with django_capture_on_commit_callbacks(execute=True):
            closure_lift(closure=closure, by=dispatcher_a)
    assert ClosureApplication.objects.get(closure_id=closure.pk, version=2).new_plans == []
    assert Plan.objects.filter(parent=morning).count() == 0
