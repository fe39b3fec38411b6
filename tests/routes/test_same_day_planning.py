"""A plan for today starts from now: vehicles leave at the later of their shift start and now plus
the preparation time (from the depot, or from where they are if already out), orders whose window
has closed are left out with the reason, vehicles whose shift is over are not used and the plan
says so, no stop (and no customer's promise) starts in the past; a day that is over is refused.

Every test pins the clock (time_machine, not ticking, so that the expected times are exact) on a
day still to come, so none depends on the hour or the date the suite runs at.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from customers.services import promise_window_for
from dispatch.models import Driver, Order, Vehicle
from routes.models import Plan, Stop
from routes.plans.inputs import break_rules_for, seconds_from, shift_bounds
from routes.plans.services import plan_request
from routes.plans.tasks import optimize_plan
from tests.routes.test_plans import VADUZ_POINTS, import_orders

pytestmark = pytest.mark.clock
ZONE = ZoneInfo(settings.TIME_ZONE)
PREPARATION = timedelta(minutes=30)


def next_weekday(weekday: int, *, after: date | None = None) -> date:
    """The next such weekday (0 = Monday) after `after` (default: today), at least a day ahead."""
    after = after or datetime.now(ZONE).date()
    return after + timedelta(days=(weekday - after.weekday()) % 7 or 7)


def last_sunday(year: int, month: int) -> date:
    last = date(year, month + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def next_clock_change(month: int) -> date:
    """The next last Sunday of March (clocks forward) or October (clocks back) still to come."""
    today = datetime.now(ZONE).date()
    day = last_sunday(today.year, month)
    return day if day > today else last_sunday(today.year + 1, month)


WEDNESDAY = next_weekday(2)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE)


def local(moment) -> datetime:
    return timezone.localtime(datetime.fromisoformat(moment) if isinstance(moment, str) else moment, ZONE)


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.PLAN_PREPARATION_MINUTES = 30


@pytest.fixture
def fleet(depot_a, vehicle_a, driver_a, road_network):
    """vehicle_a (A-Van-1, 08:00-17:00, driver_a) and a van of the late shift, 12:00-20:00."""
    late = Vehicle.objects.create(
        name="A-Van-Late", depot=depot_a, kind="van", capacity_kg=800, shift_start=time(12), shift_end=time(20)
    )
    return {"day": vehicle_a, "late": late}


def orders_for(client, day: date, *windows, prefix="S"):
    """One order per window ((start, end) as HH:MM, or None) at the Vaduz points, for `day`."""
    rows = [
        f"{prefix}{n},{day},{lat},{lon},{w[0] if w else ''},{w[1] if w else ''},3,,0"
        for n, ((lat, lon), w) in enumerate(zip(VADUZ_POINTS, windows, strict=False))
    ]
    return import_orders(client, rows)


def request_plan(client, capture, day: date, **extra) -> dict:
    with capture(execute=True):
        response = client.post("/api/plans/", {"date": str(day), "time_budget_s": 1, **extra}, format="json")
    assert response.status_code == 202, response.json()
    plan = client.get(f"/api/plans/{response.json()['id']}/").json()
    assert plan["status"] == "done", plan["error"]
    return plan


def route_of(plan: dict, vehicle) -> dict | None:
    return next((r for r in plan["routes"] if r["vehicle"] == vehicle.pk), None)


def unassigned_of(plan: dict) -> dict[int, tuple[str, str]]:
    return {u["order"]: (u["code"], u["reason"]) for u in plan["unassigned"]}


def assert_nothing_before(plan: dict, moment: datetime) -> None:
    """No route leaves, no stop is timed and no customer is promised a window before `moment`."""
    for route in plan["routes"]:
        assert local(route["start"]) >= moment, route
        for stop in route["stops"]:
            assert local(stop["eta"]) >= moment
            promised_start, _ = promise_window_for(local(stop["eta"]))
            assert promised_start >= timezone.now().replace(second=0, microsecond=0)


@pytest.mark.parametrize(
    ("hour", "minute", "leaves"),
    [(7, 0, (8, 0)), (10, 0, (10, 30)), (15, 10, (15, 40))],
    ids=["before-the-shift", "mid-morning", "late-afternoon"],
)
def test_it_starts_todays_plan_at_the_later_of_shift_start_and_now_plus_preparation(
    dispatcher_a_client, django_capture_on_commit_callbacks, fleet, hour, minute, leaves
):
    Vehicle.objects.filter(pk=fleet["late"].pk).delete()
    now = at(WEDNESDAY, hour, minute)
    with time_machine.travel(now, tick=False):
        orders_for(dispatcher_a_client, WEDNESDAY, None, None, None, None)
        plan = request_plan(dispatcher_a_client, django_capture_on_commit_callbacks, WEDNESDAY)
    route = route_of(plan, fleet["day"])
    assert route is not None and len(route["stops"]) == 4
    assert local(route["start"]) == at(WEDNESDAY, *leaves)  # orders without windows: nothing to wait for
    assert local(plan["planned_at"]) == now and plan["vehicles_not_used"] == []
    assert_nothing_before(plan, at(WEDNESDAY, *leaves))


def test_it_leaves_out_closed_windows_and_ended_shifts_in_the_evening(
    dispatcher_a_client, dispatcher_a, django_capture_on_commit_callbacks, fleet, client
):
    now = at(WEDNESDAY, 17, 55)
    with time_machine.travel(now, tick=False):
        free, closed, partly, too_soon = orders_for(
            dispatcher_a_client, WEDNESDAY, None, ("10:00", "13:00"), ("17:00", "19:30"), ("18:00", "18:20")
        )
        plan = request_plan(dispatcher_a_client, django_capture_on_commit_callbacks, WEDNESDAY)

        assert route_of(plan, fleet["day"]) is None
        assert plan["vehicles_not_used"] == [
            {"vehicle": fleet["day"].pk, "name": "A-Van-1", "reason": "shift ended at 17:00"}
        ]
        late = route_of(plan, fleet["late"])
        assert sorted(s["order"] for s in late["stops"]) == sorted([free, partly])
        assert local(late["start"]) >= now + PREPARATION
        assert_nothing_before(plan, now + PREPARATION)
        partly_stop = next(s for s in late["stops"] if s["order"] == partly)
        assert partly_stop["late_s"] == 0 and local(partly_stop["eta"]) <= at(WEDNESDAY, 19, 30)
        reasons = unassigned_of(plan)
        assert reasons[closed] == ("window_passed", "its delivery window closed at 13:00")
        assert reasons[too_soon] == (
            "window_passed",
            "its delivery window closes at 18:20, before the first vehicle can leave at 18:25",
        )
        assert Order.objects.get(pk=closed).status == Order.Status.NEW

        # The plan page says when it was planned from and which vehicle stayed home, and why.
        client.force_login(dispatcher_a)
        page = client.get(f"/plans/{plan['id']}/").content.decode()
    assert "Planned at 17:55" in page and "leave from 18:25" in page
    assert "A-Van-1: shift ended at 17:00" in page
    assert "its delivery window closed at 13:00" in page


def test_it_plans_nothing_when_every_shift_is_over_and_says_why(
    dispatcher_a_client, django_capture_on_commit_callbacks, fleet
):
    with time_machine.travel(at(WEDNESDAY, 20, 30), tick=False):
        free, closed = orders_for(dispatcher_a_client, WEDNESDAY, None, ("16:00", "19:00"))
        plan = request_plan(dispatcher_a_client, django_capture_on_commit_callbacks, WEDNESDAY)
    assert plan["routes"] == []
    assert [(v["name"], v["reason"]) for v in plan["vehicles_not_used"]] == [
        ("A-Van-1", "shift ended at 17:00"),
        ("A-Van-Late", "shift ended at 20:00"),
    ]
    assert unassigned_of(plan) == {
        free: ("shift_ended", "no vehicle can go out any more today: every shift is over"),
        closed: ("window_passed", "its delivery window closed at 19:00"),
    }


def test_it_does_not_send_a_van_out_whose_shift_ends_before_it_could_leave(
    dispatcher_a_client, django_capture_on_commit_callbacks, fleet
):
    with time_machine.travel(at(WEDNESDAY, 16, 40), tick=False):
        orders_for(dispatcher_a_client, WEDNESDAY, None, None)
        plan = request_plan(dispatcher_a_client, django_capture_on_commit_callbacks, WEDNESDAY)
    assert route_of(plan, fleet["day"]) is None and route_of(plan, fleet["late"]) is not None
    [not_used] = plan["vehicles_not_used"]
    assert not_used["name"] == "A-Van-1"
    assert not_used["reason"] == "shift ends at 17:00, before it could leave (ready at 17:10)"


def test_it_plans_a_night_shift_from_now_late_in_the_evening(
    dispatcher_a_client, django_capture_on_commit_callbacks, fleet, depot_a
):
    night = Vehicle.objects.create(
        name="A-Night", depot=depot_a, kind="van", capacity_kg=800, shift_start=time(22), shift_end=time(6)
    )
    now = at(WEDNESDAY, 23, 40)
    with time_machine.travel(now, tick=False):
        free, across, closed = orders_for(dispatcher_a_client, WEDNESDAY, None, ("23:00", "23:59"), ("21:00", "23:30"))
        # A window across midnight (the import's HH:MM of the day cannot say 01:30 the next morning).
        Order.objects.filter(pk=across).update(window_end=at(WEDNESDAY + timedelta(days=1), 1, 30))
        plan = request_plan(dispatcher_a_client, django_capture_on_commit_callbacks, WEDNESDAY)
    route = route_of(plan, night)
    assert route is not None and sorted(s["order"] for s in route["stops"]) == sorted([free, across])
    assert local(route["start"]) == at(WEDNESDAY + timedelta(days=1), 0, 10)  # now + 30 min, past midnight
    assert local(route["end"]) <= at(WEDNESDAY + timedelta(days=1), 6, 0)
    assert not any("shift" in w for w in route["warnings"])
    assert all(s["late_s"] == 0 for s in route["stops"])
    assert_nothing_before(plan, now + PREPARATION)
    assert {v["name"] for v in plan["vehicles_not_used"]} == {"A-Van-1", "A-Van-Late"}
    assert unassigned_of(plan) == {closed: ("window_passed", "its delivery window closed at 23:30")}


def test_it_plans_a_night_shift_of_a_day_to_come_with_its_break_at_night(
    dispatcher_a_client, django_capture_on_commit_callbacks, depot_a, vehicle_a, road_network
):
    Vehicle.objects.filter(pk=vehicle_a.pk).update(shift_start=time(22), shift_end=time(6))
    vehicle_a.refresh_from_db()
    start, end = shift_bounds(WEDNESDAY, vehicle_a)
    assert (end - start) == timedelta(hours=8)  # a 22:00-06:00 shift is eight hours, not minus sixteen
    with time_machine.travel(at(WEDNESDAY - timedelta(days=1), 15, 0), tick=False):
        orders = orders_for(dispatcher_a_client, WEDNESDAY, None, None, None)
        plan = request_plan(dispatcher_a_client, django_capture_on_commit_callbacks, WEDNESDAY)
    route = route_of(plan, vehicle_a)
    assert route is not None and sorted(s["order"] for s in route["stops"]) == sorted(orders)
    assert local(route["start"]) >= at(WEDNESDAY, 22, 0)
    assert local(route["end"]) <= at(WEDNESDAY + timedelta(days=1), 6, 0)
    assert not any("shift" in w for w in route["warnings"])
    # Eight hours need a 30-minute break: at night, around the middle of the shift, not at 11:00.
    [pause] = route["breaks"]
    assert pause["duration_s"] == 30 * 60
    origin = at(WEDNESDAY, 0, 0)
    [rule] = break_rules_for(WEDNESDAY, seconds_from(origin, start), seconds_from(origin, end))
    opens, closes = (origin + timedelta(seconds=s) for s in rule.windows[0])
    assert (opens, closes) == (at(WEDNESDAY + timedelta(days=1), 0, 30), at(WEDNESDAY + timedelta(days=1), 3, 30))


@pytest.mark.parametrize("month", [3, 10], ids=["spring-forward", "fall-back"])
def test_it_starts_from_now_on_a_clock_change_day(
    dispatcher_a_client, django_capture_on_commit_callbacks, depot_a, vehicle_a, road_network, month
):
    day = next_clock_change(month)
    Vehicle.objects.filter(pk=vehicle_a.pk).update(shift_start=time(8), shift_end=time(14))  # no break
    now = at(day, 10, 0)
    with time_machine.travel(now, tick=False):
        free, windowed = orders_for(dispatcher_a_client, day, None, ("11:00", "12:00"))
        plan = request_plan(dispatcher_a_client, django_capture_on_commit_callbacks, day)
    route = route_of(plan, vehicle_a)
    assert route is not None and {s["order"] for s in route["stops"]} == {free, windowed}
    assert local(route["start"]) >= at(day, 10, 30)
    stop = next(s for s in route["stops"] if s["order"] == windowed)
    # Served inside its window as the wall clock reads it (not an hour off after the change).
    service_start = local(stop["eta"]) + timedelta(seconds=stop["waiting_s"])
    assert at(day, 11, 0) <= service_start <= at(day, 12, 0) and stop["late_s"] == 0
    assert_nothing_before(plan, now + PREPARATION)


def test_it_plans_a_day_to_come_from_its_shifts_start_even_late_at_night(
    dispatcher_a_client, django_capture_on_commit_callbacks, fleet
):
    tomorrow = WEDNESDAY + timedelta(days=1)
    with time_machine.travel(at(WEDNESDAY, 23, 40), tick=False):
        orders_for(dispatcher_a_client, tomorrow, None, None, None)
        plan = request_plan(dispatcher_a_client, django_capture_on_commit_callbacks, tomorrow)
    assert plan["vehicles_not_used"] == [] and plan["unassigned"] == []
    starts = sorted(local(r["start"]) for r in plan["routes"])
    assert starts[0] in (at(tomorrow, 8, 0), at(tomorrow, 12, 0))  # a shift's start, whichever van goes


def test_it_times_a_queued_plan_from_when_it_is_computed(dispatcher_a, fleet, dispatcher_a_client):
    Vehicle.objects.filter(pk=fleet["late"].pk).delete()
    with time_machine.travel(at(WEDNESDAY, 10, 0), tick=False):
        orders_for(dispatcher_a_client, WEDNESDAY, None, None)
        [plan] = plan_request(user=dispatcher_a, day=WEDNESDAY, time_budget_s=1)  # queued, not computed yet
    with time_machine.travel(at(WEDNESDAY, 10, 20), tick=False):
        optimize_plan.apply(args=[plan.pk])
    plan.refresh_from_db()
    assert plan.status == Plan.Status.DONE and plan.planned_at == at(WEDNESDAY, 10, 20)
    # The vans cannot leave before the plan exists: 10:20 + 30 min, not 10:00 + 30 min.
    assert local(plan.routes.get().start) == at(WEDNESDAY, 10, 50)


def test_it_plans_the_options_of_one_request_from_the_same_moment(dispatcher_a, fleet, dispatcher_a_client):
    Vehicle.objects.filter(pk=fleet["late"].pk).delete()
    with time_machine.travel(at(WEDNESDAY, 10, 0), tick=False):
        orders_for(dispatcher_a_client, WEDNESDAY, None, None, None)
        options = plan_request(user=dispatcher_a, day=WEDNESDAY, objectives=["cost", "balanced"], time_budget_s=1)
    for minute, option in zip((0, 6), options, strict=True):  # computed one after the other
        with time_machine.travel(at(WEDNESDAY, 10, minute), tick=False):
            optimize_plan.apply(args=[option.pk])
    starts = []
    for option in options:
        option.refresh_from_db()
        assert option.status == Plan.Status.DONE and option.planned_at == at(WEDNESDAY, 10, 0)
        starts.append(local(option.routes.get().start))
    assert starts == [at(WEDNESDAY, 10, 30)] * 2


def test_it_starts_a_vehicle_already_out_from_where_it_is(
    dispatcher_a_client, django_capture_on_commit_callbacks, fleet, driver_a
):
    Vehicle.objects.filter(pk=fleet["late"].pk).delete()
    with time_machine.travel(at(WEDNESDAY, 7, 0), tick=False):
        orders_for(dispatcher_a_client, WEDNESDAY, None, None, None)
        morning = request_plan(dispatcher_a_client, django_capture_on_commit_callbacks, WEDNESDAY)
        with django_capture_on_commit_callbacks(execute=True):
            assert dispatcher_a_client.post(f"/api/plans/{morning['id']}/dispatch/").status_code == 200
    now = at(WEDNESDAY, 10, 0)
    with time_machine.travel(now, tick=False):
        lat, lon = VADUZ_POINTS[8]
        Driver.objects.filter(pk=driver_a.pk).update(last_lat=lat, last_lon=lon, last_position_at=now)
        [newcomer] = orders_for(dispatcher_a_client, WEDNESDAY, None, prefix="N")
        plan = request_plan(dispatcher_a_client, django_capture_on_commit_callbacks, WEDNESDAY)
    route = route_of(plan, fleet["day"])
    assert [s["order"] for s in route["stops"]] == [newcomer]
    # On the road already: it goes on from its position now, without the depot's preparation time.
    assert local(route["start"]) == now
    first_point = route["geometry"]["coordinates"][0]
    assert abs(first_point[0] - lon) < 0.003 and abs(first_point[1] - lat) < 0.003


def test_it_replans_from_now_with_the_same_rules(dispatcher_a_client, django_capture_on_commit_callbacks, fleet):
    Vehicle.objects.filter(pk=fleet["late"].pk).delete()
    with time_machine.travel(at(WEDNESDAY, 7, 0), tick=False):
        orders_for(dispatcher_a_client, WEDNESDAY, None, None)
        morning = request_plan(dispatcher_a_client, django_capture_on_commit_callbacks, WEDNESDAY)
        with django_capture_on_commit_callbacks(execute=True):
            assert dispatcher_a_client.post(f"/api/plans/{morning['id']}/dispatch/").status_code == 200
    now = at(WEDNESDAY, 12, 30)
    with time_machine.travel(now, tick=False):
        closed, fresh = orders_for(dispatcher_a_client, WEDNESDAY, ("10:00", "12:00"), None, prefix="N")
        with django_capture_on_commit_callbacks(execute=True):
            response = dispatcher_a_client.post(f"/api/plans/{morning['id']}/replan/", {}, format="json")
        assert response.status_code == 202, response.json()
        replan = dispatcher_a_client.get(f"/api/plans/{response.json()['id']}/").json()
    assert replan["status"] == "done", replan["error"]
    assert local(replan["planned_at"]) == now
    assert unassigned_of(replan)[closed] == ("window_passed", "its delivery window closed at 12:00")
    routed = {s["order"] for r in replan["routes"] for s in r["stops"]}
    assert fresh in routed
    for route in replan["routes"]:
        for stop in route["stops"]:
            if stop["order"] == fresh:
                assert local(stop["eta"]) >= now


def test_it_refuses_to_plan_a_day_that_is_over(dispatcher_a_client, dispatcher_a, client, fleet):
    with time_machine.travel(at(WEDNESDAY, 0, 20), tick=False):
        yesterday = WEDNESDAY - timedelta(days=1)
        response = dispatcher_a_client.post("/api/plans/", {"date": str(yesterday)}, format="json")
        assert response.status_code == 400
        [error] = response.json()["errors"]
        assert (error["field"], error["value"]) == ("date", str(yesterday))
        assert "is over" in error["message"] and "today" in error["message"]
        assert Plan.objects.count() == 0
        # Today, twenty minutes old, is fine.
        assert dispatcher_a_client.post("/api/plans/", {"date": str(WEDNESDAY)}, format="json").status_code == 202

        # The dashboard says so and offers no button to compute a plan for that day.
        client.force_login(dispatcher_a)
        page = client.get(f"/plans/?date={yesterday}").content.decode()
        assert "is over" in page and 'id="past-day"' in page
        assert 'data-label="Compute plan" disabled' in page
        assert f'min="{WEDNESDAY:%Y-%m-%d}"' in page
        today_page = client.get(f"/plans/?date={WEDNESDAY}").content.decode()
        assert 'id="past-day"' not in today_page and 'data-label="Compute plan">' in today_page


def test_it_refuses_to_reoptimize_or_replan_a_plan_of_a_day_that_is_over(
    dispatcher_a_client, django_capture_on_commit_callbacks, fleet
):
    Vehicle.objects.filter(pk=fleet["late"].pk).delete()  # no driver: the plan could not be dispatched
    with time_machine.travel(at(WEDNESDAY, 9, 0), tick=False):
        orders_for(dispatcher_a_client, WEDNESDAY, None, None)
        plan = request_plan(dispatcher_a_client, django_capture_on_commit_callbacks, WEDNESDAY)
        with django_capture_on_commit_callbacks(execute=True):
            assert dispatcher_a_client.post(f"/api/plans/{plan['id']}/dispatch/").status_code == 200
    with time_machine.travel(at(WEDNESDAY + timedelta(days=1), 8, 0), tick=False):
        for path in ("reoptimize", "replan"):
            response = dispatcher_a_client.post(f"/api/plans/{plan['id']}/{path}/", {}, format="json")
            assert response.status_code == 400, (path, response.json())
            assert response.json()["errors"][0]["field"] == "date"
        stop = Stop.objects.filter(route__plan_id=plan["id"]).first()
        response = dispatcher_a_client.post(
            f"/api/plans/{plan['id']}/edit/",
            {"operations": [{"op": "unassign", "order": stop.order_id}]},
            format="json",
        )
        assert response.status_code == 400 and response.json()["errors"][0]["field"] == "date"
    assert Plan.objects.count() == 1


def test_a_simulator_plans_a_past_day_through_the_services_with_its_clock(dispatcher_a, dispatcher_a_client, fleet):
    Vehicle.objects.filter(pk=fleet["late"].pk).delete()
    past = WEDNESDAY - timedelta(days=7)
    with time_machine.travel(at(WEDNESDAY, 9, 0), tick=False):
        orders_for(dispatcher_a_client, past, None, None)
        # Replaying that day's morning: planned as on it, at 06:00.
        [plan] = plan_request(user=dispatcher_a, day=past, time_budget_s=1, now=at(past, 6, 0))
        optimize_plan.apply(args=[plan.pk])
    plan.refresh_from_db()
    assert plan.status == Plan.Status.DONE and plan.planned_at == at(past, 6, 0)
    assert local(plan.routes.get().start) == at(past, 8, 0)


def test_it_never_promises_a_customer_a_window_that_starts_in_the_past(db):
    # db: the window's width comes from the active learned travel model (none here: the fixed width)
    now = at(WEDNESDAY, 10, 0)
    with time_machine.travel(now, tick=False):
        # Due in over half an hour: the usual hour around the ETA, rounded to five minutes.
        assert promise_window_for(at(WEDNESDAY, 11, 7)) == (at(WEDNESDAY, 10, 35), at(WEDNESDAY, 11, 35))
        # Due in ten minutes: from now, not from 09:40.
        assert promise_window_for(at(WEDNESDAY, 10, 10)) == (now, at(WEDNESDAY, 10, 40))
        # An ETA already behind us (a plan dispatched late): from now, for half an hour at least.
        assert promise_window_for(at(WEDNESDAY, 9, 0)) == (now, at(WEDNESDAY, 10, 30))
