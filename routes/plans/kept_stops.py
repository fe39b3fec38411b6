"""Stops kept on their vehicle although the solver left them out.

A stop the dispatcher pinned, or a stop a re-plan keeps on the vehicle it was dispatched on, stays
there even when the solver could not fit it (over capacity, past its window, or a search cut short
on a busy machine): it goes where it adds the least driving, and the re-timing then shows the
dispatcher what it breaks. A pin is a decision, not a preference.

A vehicle that reloads (a cargo bike, a drone) takes such a stop into a trip that still has room
for it, or else into a trip of its own with a reload before or after it, if it may do one more
trip: only when neither is possible does a trip carry more than the vehicle holds (the re-timing
flags it). Without that, a short search that served two of six parcels left the other four piled
onto the bike's first trip.
"""

from __future__ import annotations

from dataclasses import dataclass

from routes.plans.saving import RouteDraft


@dataclass(frozen=True)
class _Reload:
    depot_id: int


@dataclass(frozen=True)
class _Break:
    seconds: int


def keep_pinned_stops(inputs, drafts: dict, pinned: dict[int, int], unassigned: dict) -> None:
    """Put each order of ``pinned`` (order id -> vehicle id) that the solver left ``unassigned``
    onto its vehicle's draft, at its cheapest place (see the module docstring); it leaves
    ``unassigned``."""

    jobs = inputs.problem.job_by_id()
    vehicles = inputs.problem.vehicle_by_id()
    for order_id, vehicle_id in pinned.items():
        if order_id not in unassigned or order_id not in jobs or vehicle_id not in vehicles:
            continue
        vehicle = vehicles[vehicle_id]
        draft = drafts.get(vehicle_id)
        if draft is None:
            draft = drafts[vehicle_id] = RouteDraft(
                vehicle_id=vehicle_id, start=inputs.moment(vehicle.shift[0]), order_ids=[]
            )
        _Route(inputs, vehicle, draft).insert(order_id)
        del unassigned[order_id]


class _Route:
    """A draft as one list of its stops (order ids), reloads and breaks, in the order driven."""

    def __init__(self, inputs, vehicle, draft: RouteDraft):
        self.inputs, self.vehicle, self.draft = inputs, vehicle, draft
        self.jobs = inputs.problem.job_by_id()
        self.durations = inputs.problem.matrices[vehicle.profile].durations
        self.index_of = {depot.id: index for index, depot in inputs.depot_at.items()}
        items: list = [_Break(draft.breaks_after[-1])] if draft.breaks_after.get(-1) else []
        for number, order_id in enumerate(draft.order_ids):
            items.append(order_id)
            if draft.breaks_after.get(number):
                items.append(_Break(draft.breaks_after[number]))
            # A reload after the last stop is no reload (saving._reload_points): it is not kept.
            if number < len(draft.order_ids) - 1 and number in draft.reloads_after:
                items.append(_Reload(draft.reloads_after[number]))
        self.items = items

    def insert(self, order_id: int) -> None:
        """Insert the stop at its cheapest place (see the module docstring) and write the draft back."""
        places = self._places(order_id)
        if self.vehicle.reloads:
            trips_now = len(self._trips(self.items))
            places = [p for p in places if self._trip_fits(p[1], order_id, trips_now)] or [
                p for p in places if len(p[1]) == len(self.items) + 1
            ]
        _, self.items = min(places, key=lambda p: p[0])
        self._write_back()

    def _places(self, order_id: int) -> list[tuple[int, list]]:
        """(seconds of driving added, the items with the stop in) for each place: between any two
        points and, for a vehicle that reloads, as a trip of its own at each trip boundary. Never
        just before a break: it costs no driving either side, and the break stays after its stop."""
        hubs = [self.inputs.depot_at[i].id for i in self.vehicle.reload_indices if i in self.inputs.depot_at]
        before = self._driving(self.items)
        places = []
        for n in range(len(self.items) + 1):
            if n < len(self.items) and isinstance(self.items[n], _Break):
                continue
            inserts = [[order_id]]
            if self.vehicle.reloads and self.items and self._at_boundary(n):
                inserts += [[order_id, _Reload(h)] for h in hubs] + [[_Reload(h), order_id] for h in hubs]
            for insert in inserts:
                items = self.items[:n] + insert + self.items[n:]
                if self._trips_are_whole(items):
                    places.append((self._driving(items) - before, items))
        return places

    def _reload(self, item) -> bool:
        """A reload the route drives to; one at a depot that is no longer a reload point of the
        vehicle is dropped by the re-timing (saving warns of it), so it ends no trip here either."""
        return isinstance(item, _Reload) and item.depot_id in self.index_of

    def _points(self, items: list) -> list:
        return [i for i in items if not isinstance(i, _Break) and (not isinstance(i, _Reload) or self._reload(i))]

    def _at_boundary(self, n: int) -> bool:
        """Whether position ``n`` of the items lies between two trips, or before the first or after the last."""
        points, later = self._points(self.items[:n]), self._points(self.items[n:])
        return not points or not later or self._reload(points[-1]) or self._reload(later[0])

    def _trips_are_whole(self, items: list) -> bool:
        """No reload before the first stop or after the last, nor two in a row: each one ends a trip."""
        reloads = [self._reload(i) for i in self._points(items)]
        return (
            bool(reloads)
            and not reloads[0]
            and not reloads[-1]
            and not any(a and b for a, b in zip(reloads, reloads[1:]))
        )

    def _driving(self, items: list) -> int:
        points = [self.vehicle.start_index]
        for item in self._points(items):
            points.append(self.index_of[item.depot_id] if isinstance(item, _Reload) else self.jobs[item].location_index)
        points.append(self.vehicle.end_index)
        return int(sum(self.durations[a][b] for a, b in zip(points, points[1:])))

    def _trips(self, items: list) -> list[list[int]]:
        trips, trip = [], []
        for item in self._points(items):
            if isinstance(item, _Reload):
                trips.append(trip)
                trip = []
            else:
                trip.append(item)
        return [t for t in trips + [trip] if t]

    def _trip_fits(self, items: list, order_id: int, trips_now: int) -> bool:
        """The trip the stop joins within the vehicle's capacity and stops per trip, and a trip of its
        own only if the vehicle may do one more. Only that trip is judged: one that was over its
        limits already (an oversized pinned parcel) does not send the other stops into it."""
        trips = self._trips(items)
        if len(trips) > trips_now and len(trips) > self.vehicle.max_trips:
            return False
        [trip] = [t for t in trips if order_id in t]
        if self.vehicle.max_stops_per_trip is not None and len(trip) > self.vehicle.max_stops_per_trip:
            return False
        for dimension, capacity in enumerate(self.vehicle.capacity):
            load = sum(self.jobs[o].delivery[dimension] for o in trip if dimension < len(self.jobs[o].delivery))
            if load > capacity:
                return False
        return True

    def _write_back(self) -> None:
        order_ids, reloads_after, breaks_after = [], {}, {}
        for item in self.items:
            if isinstance(item, _Reload):
                if order_ids:  # a reload before the first stop is no trip
                    reloads_after[len(order_ids) - 1] = item.depot_id
            elif isinstance(item, _Break):
                number = len(order_ids) - 1
                breaks_after[number] = breaks_after.get(number, 0) + item.seconds
            else:
                order_ids.append(item)
        self.draft.order_ids[:] = order_ids
        self.draft.reloads_after = reloads_after
        self.draft.breaks_after = breaks_after
