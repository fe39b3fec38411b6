"""A stop is unreachable only when no road leads to it any more (issue 14).

The case found by benchmarks/closure_reroute.py --busy: a 60 m closure on Malbunstrasse, hundreds of
metres from any stop, is on the only road into Malbun (a dead-end valley), so for vans every address
there is cut off (the nearest open van road is 1.4-2 km away), while a cargo bike still gets there by
its paths. Planning judged a van able to reach them whenever any profile's road was near, and timed
the van to them from a road point across the closure with made-up legs; a closure re-plan then either
dropped them as unreachable (the van alone) or kept them on the van (with the bikes in the solve).
"""

from datetime import time, timedelta

import pytest
import time_machine
from django.utils import timezone

from dispatch.models import Order, Vehicle
from routes.closures.services import closure_create
from routes.models import Plan, RoadClosure, Stop
from routes.plans.inputs import build_plan_inputs
from routes.plans.services import plan_dispatch
from routes.plans.tasks import optimize_plan
from routes.road_network import get_road_network
from tests.routes.test_plans import DAY
from tests.routes.test_replan_guard_rails import POINTS, at, square

# The only road into Malbun, where the benchmark closed it; and two addresses beyond it.
MALBUN_ROAD = square(47.11003, 9.59685, 30)
MALBUN = [(47.100076, 9.608067), (47.097408, 9.611863)]


def order_at(depot, reference: str, lat: float, lon: float) -> Order:
    return Order.objects.create(
        reference=reference, date=DAY, depot=depot, lat=lat, lon=lon, snap_distance_m=10,
        customer_name=f"Customer {reference}", email=f"{reference.lower()}@example.com",
    )  # fmt: skip


@pytest.fixture
def cargo_bike(depot_a):
    return Vehicle.objects.create(
        name="A-Bike-1", depot=depot_a, kind="cargo_bike", capacity_kg=100, capacity_items=40,
        shift_start=time(8), shift_end=time(20),
    )  # fmt: skip


def test_a_van_cannot_reach_a_stop_a_closure_cut_off_for_vans_though_a_bike_path_still_leads_there(
    road_network, depot_a, vehicle_a, cargo_bike
):
    malbun = order_at(depot_a, "M1", *MALBUN[0])
    vaduz = order_at(depot_a, "V1", *POINTS[0])
    RoadClosure.objects.create(geometry=MALBUN_ROAD, reason="rockfall", starts_at=timezone.now() - timedelta(minutes=1))
    network = get_road_network()
    both = build_plan_inputs(network=network, day=DAY, orders=[malbun, vaduz], vehicles=[vehicle_a, cargo_bike])
    jobs = both.problem.job_by_id()
    # Only the bike may take it: the van's nearest open road is kilometres from the door.
    assert "reach:bike" in jobs[malbun.id].skills
    assert not any(skill.startswith("reach:") for skill in jobs[vaduz.id].skills)
    van_alone = build_plan_inputs(network=network, day=DAY, orders=[malbun, vaduz], vehicles=[vehicle_a])
    assert van_alone.dropped[malbun.id][0] == "closed_road" and vaduz.id not in van_alone.dropped


@pytest.fixture
def valley_day(road_network, depot_a, vehicle_a, driver_a, dispatcher_a, django_capture_on_commit_callbacks):
    """One van serving three Vaduz addresses and two in Malbun, planned and dispatched at 09:00."""
    Vehicle.objects.filter(pk=vehicle_a.pk).update(shift_end=time(20))
    vaduz = [order_at(depot_a, f"V{number}", *point) for number, point in enumerate(POINTS[:3])]
    malbun = [order_at(depot_a, f"M{number}", *point) for number, point in enumerate(MALBUN)]
    with time_machine.travel(at(9), tick=True):
        plan = Plan.objects.create(date=DAY, depot=depot_a, version=1, request={"depots": [depot_a.id]})
        optimize_plan.apply(args=[plan.pk])
        plan.refresh_from_db()
        assert plan.status == "done" and not plan.unassigned.exists(), plan.error
        with django_capture_on_commit_callbacks(execute=True):
            plan = plan_dispatch(plan=plan, by=dispatcher_a)
    return plan, vaduz, malbun


def test_a_closure_replan_offers_cut_off_stops_to_a_bike_that_reaches_them_and_never_keeps_them_on_the_van(
    valley_day, vehicle_a, cargo_bike, dispatcher_a, django_capture_on_commit_callbacks
):
    plan, vaduz, malbun = valley_day  # the bike came on duty after the morning's dispatch
    with time_machine.travel(at(10), tick=True):
        with django_capture_on_commit_callbacks(execute=True):
            closure_create(geometry=MALBUN_ROAD, reason="rockfall on Malbunstrasse", by=dispatcher_a)
    replan = Plan.objects.get(parent=plan, reason__startswith="closure ")
    assert replan.status == "done", replan.error
    owners = dict(Stop.objects.filter(route__plan=replan).values_list("order_id", "route__vehicle_id"))
    # Not unreachable (a road of the bike's leads there), and not on a van that has no road to it.
    assert {owners.get(order.id) for order in malbun} == {cargo_bike.id}
    assert not replan.unassigned.exists()
    assert all(owners[order.id] == vehicle_a.id for order in vaduz)
    # Moving stops to another vehicle is the dispatcher's call.
    assert replan.state == "proposed" and replan.proposal["moved_count"] == len(malbun)
    assert replan.proposal["dropped_count"] == 0


def test_a_stop_no_vehicle_with_room_can_reach_is_left_out_as_closed_road_not_kept_on_the_van(
    valley_day, vehicle_a, cargo_bike, dispatcher_a, django_capture_on_commit_callbacks
):
    plan, vaduz, malbun = valley_day
    Vehicle.objects.filter(pk=cargo_bike.pk).update(capacity_kg=1, capacity_items=0)  # no room for any parcel
    Order.objects.filter(pk__in=[o.pk for o in malbun]).update(weight_kg=5)
    with time_machine.travel(at(10), tick=True):
        with django_capture_on_commit_callbacks(execute=True):
            closure_create(geometry=MALBUN_ROAD, reason="rockfall on Malbunstrasse", by=dispatcher_a)
    replan = Plan.objects.get(parent=plan, reason__startswith="closure ")
    owners = dict(Stop.objects.filter(route__plan=replan).values_list("order_id", "route__vehicle_id"))
    cut_off = dict(replan.unassigned.values_list("order_id", "code"))
    assert {order.id: cut_off.get(order.id) for order in malbun} == {order.id: "closed_road" for order in malbun}
    assert not any(order.id in owners for order in malbun)
    assert all(owners[order.id] == vehicle_a.id for order in vaduz)
