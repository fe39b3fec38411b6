"""A closure re-plan made by the system keeps each driver's order of stops when a detour serves them
all: only what the closure forces changes (issue 14, guard rails).

Free to re-sequence, the solver often reversed a repaired route to save a few minutes; every
customer's ETA on it then moved by an hour and the re-plan became a proposal for no real reason.
"""

import time_machine

from dispatch.live.eta import live_etas_refresh
from dispatch.models import Driver
from routes.models import Stop
from tests.routes.test_replan_guard_rails import at, busy_route, the_replan
from tests.routes.test_replan_live_baseline import close_a_through_road_on, two_vans_driving  # noqa: F401


def test_a_closure_repair_keeps_the_drivers_order_of_stops(
    two_vans_driving,  # noqa: F811
    dispatcher_a,
    django_capture_on_commit_callbacks,
):
    morning = two_vans_driving
    route = busy_route(morning)
    # The driver's round is not the solver's favourite (a dispatcher dragged it so, or the solver
    # found another of equal worth): reversed. A free re-sequencing would put it back.
    stops = list(Stop.objects.filter(route=route).order_by("sequence"))
    for stop in stops:
        Stop.objects.filter(pk=stop.pk).update(sequence=stop.sequence + 1000)
    for sequence, stop in enumerate(reversed(stops), start=1):
        Stop.objects.filter(pk=stop.pk).update(sequence=sequence)
    before = list(Stop.objects.filter(route=route).order_by("sequence").values_list("order_id", flat=True))
    with time_machine.travel(at(9, 40), tick=True):
        depot = route.vehicle.depot
        Driver.objects.filter(pk=route.driver_id).update(
            last_lat=depot.lat, last_lon=depot.lon, last_position_at=at(9, 40)
        )
        live_etas_refresh(driver_id=route.driver_id)
        close_a_through_road_on(route, dispatcher_a, django_capture_on_commit_callbacks)
        replan = the_replan(morning)
    assert replan.status == "done", replan.error
    after = list(
        Stop.objects.filter(route__plan=replan, route__vehicle=route.vehicle)
        .order_by("sequence")
        .values_list("order_id", flat=True)
    )
    assert sorted(after) == sorted(before), "the closure cut no stop off: the van keeps all of them"
    assert after == before, "the van's stops in the driver's order, detoured around the closure"
