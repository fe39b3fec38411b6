"""Stops kept on their vehicle although the solver left them out (routes.plans.kept_stops): a
vehicle that reloads takes them into trips with room or into trips of their own, and the breaks and
reloads of the stops around them stay with those stops."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from types import SimpleNamespace

from routes.plans.kept_stops import keep_pinned_stops
from routes.plans.saving import RouteDraft
from tests.optimizer.test_reloads import bike_day

HUB, DEPOT = 101, 100  # depot ids of the micro-hub (point 1) and the depot (point 0)


def plan_inputs(problem):
    # The parts of PlanInputs keep_pinned_stops reads: the problem and which depot each point is.
    return SimpleNamespace(
        problem=problem,
        depot_at={0: SimpleNamespace(id=DEPOT), 1: SimpleNamespace(id=HUB)},
        moment=datetime.fromtimestamp,
    )


def trips_of(draft: RouteDraft) -> list[list[int]]:
    trips, trip = [], []
    for number, order_id in enumerate(draft.order_ids):
        trip.append(order_id)
        if number in draft.reloads_after and number < len(draft.order_ids) - 1:
            trips.append(trip)
            trip = []
    return trips + [trip]


def test_stops_a_short_search_left_out_go_into_trips_of_their_own_not_onto_a_full_trip():
    problem = bike_day(n_jobs=6, capacity=2)
    draft = RouteDraft(vehicle_id="bike", start=datetime(2026, 12, 7, 8), order_ids=[1, 2], breaks_after={0: 1800})
    left_out = {o: ("capacity", "no room") for o in (3, 4, 5, 6)}
    keep_pinned_stops(plan_inputs(problem), {"bike": draft}, {o: "bike" for o in left_out}, left_out)

    assert left_out == {}
    assert sorted(draft.order_ids) == [1, 2, 3, 4, 5, 6]
    trips = trips_of(draft)
    assert len(trips) == 3 and all(len(trip) <= 2 for trip in trips)
    assert set(draft.reloads_after.values()) <= {HUB, DEPOT}
    # The lunch break still follows the stop it followed.
    [(after, seconds)] = draft.breaks_after.items()
    assert draft.order_ids[after] == 1 and seconds == 1800


def test_a_trip_with_room_takes_the_stop_before_a_new_trip_is_opened():
    problem = bike_day(n_jobs=6, capacity=2)
    draft = RouteDraft(vehicle_id="bike", start=datetime(2026, 12, 7, 8), order_ids=[1, 2, 3], reloads_after={1: HUB})
    left_out = {4: ("window", "too late")}
    keep_pinned_stops(plan_inputs(problem), {"bike": draft}, {4: "bike"}, left_out)

    assert trips_of(draft)[0] == [1, 2] and sorted(trips_of(draft)[1]) == [3, 4]
    assert draft.reloads_after == {1: HUB}


def test_with_no_trip_left_a_kept_stop_overloads_a_trip_and_the_reloads_stay_after_their_stops():
    # Two trips allowed, both full: the pin is a decision, so the stop rides in a trip anyway (the
    # re-timing flags the load), and the reload still ends the trip it ended.
    problem = bike_day(n_jobs=6, capacity=2, max_trips=2)
    draft = RouteDraft(
        vehicle_id="bike", start=datetime(2026, 12, 7, 8), order_ids=[1, 2, 3, 4], reloads_after={1: HUB}
    )
    keep_pinned_stops(plan_inputs(problem), {"bike": draft}, {5: "bike"}, {5: ("capacity", "")})

    trips = trips_of(draft)
    assert len(trips) == 2 and sorted(trips[0] + trips[1]) == [1, 2, 3, 4, 5]
    assert {2, 1} <= set(trips[0]) and {3, 4} <= set(trips[1])


def test_a_vehicle_without_reloads_keeps_the_stop_where_it_adds_least_and_its_break_moves_with_its_stop():
    problem = bike_day(n_jobs=6, capacity=2)
    problem = replace(problem, vehicles=(replace(problem.vehicles[0], max_trips=1, capacity=(10,)),))
    draft = RouteDraft(vehicle_id="bike", start=datetime(2026, 12, 7, 8), order_ids=[1, 2, 3], breaks_after={1: 900})
    keep_pinned_stops(plan_inputs(problem), {"bike": draft}, {4: "bike"}, {4: ("window", "")})

    assert sorted(draft.order_ids) == [1, 2, 3, 4] and draft.reloads_after == {}
    [(after, seconds)] = draft.breaks_after.items()
    assert draft.order_ids[after] == 2 and seconds == 900


def test_a_kept_stop_never_takes_a_break_from_the_stop_it_followed():
    problem = bike_day(n_jobs=6, capacity=2)
    problem = replace(problem, vehicles=(replace(problem.vehicles[0], max_trips=1, capacity=(10,)),))
    for breaks in ({2: 900}, {-1: 600}, {0: 300, 2: 900}):
        draft = RouteDraft(
            vehicle_id="bike", start=datetime(2026, 12, 7, 8), order_ids=[1, 2, 3], breaks_after=dict(breaks)
        )
        keep_pinned_stops(plan_inputs(problem), {"bike": draft}, {4: "bike", 6: "bike"}, {4: (), 6: ()})
        followed = {(draft.order_ids[n] if n >= 0 else None): s for n, s in draft.breaks_after.items()}
        assert followed == {([1, 2, 3][n] if n >= 0 else None): s for n, s in breaks.items()}, draft


def test_one_overloaded_trip_does_not_send_the_other_kept_stops_onto_it():
    # Stop 3 is a 5-parcel pin, more than the bike carries: it rides over capacity (flagged), and the
    # other kept stops still go into trips with room.
    problem = bike_day(n_jobs=6, capacity=2)
    jobs = tuple(replace(j, delivery=(5,)) if j.id == 3 else j for j in problem.jobs)
    problem = replace(problem, jobs=jobs)
    draft = RouteDraft(vehicle_id="bike", start=datetime(2026, 12, 7, 8), order_ids=[1, 2])
    left_out = {o: ("capacity", "") for o in (3, 4, 5, 6)}
    keep_pinned_stops(plan_inputs(problem), {"bike": draft}, {o: "bike" for o in left_out}, left_out)

    trips = trips_of(draft)
    assert sorted(draft.order_ids) == [1, 2, 3, 4, 5, 6]
    others = [trip for trip in trips if 3 not in trip]
    assert {4, 5, 6} <= {o for trip in others for o in trip}
    assert all(len(trip) <= 2 for trip in others) and len(trips) <= 4


def test_a_reload_at_a_depot_no_longer_a_reload_point_ends_no_trip_and_stays_for_the_warning():
    problem = bike_day(n_jobs=6, capacity=2)
    draft = RouteDraft(vehicle_id="bike", start=datetime(2026, 12, 7, 8), order_ids=[1, 2], reloads_after={0: 999})
    keep_pinned_stops(plan_inputs(problem), {"bike": draft}, {4: "bike"}, {4: ("capacity", "")})

    assert 999 in draft.reloads_after.values()  # saving.draft_warnings_of names it
    known = {n: d for n, d in draft.reloads_after.items() if d != 999}
    # [1, 2] is one trip (the unknown reload is driven past), full: stop 4 gets a trip of its own.
    assert len(known) == 1 and sorted(draft.order_ids) == [1, 2, 4]
    [(after, _)] = known.items()
    assert draft.order_ids[after] == 4 or draft.order_ids[after + 1] == 4
