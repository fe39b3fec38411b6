"""A multi-trip route read as its trips: the stops between two reloads, with their load.

A route's reloads (Route.reloads, written by routes.plans.saving) say after which stop the vehicle
goes back to its depot or a micro-hub to reload: `after_sequence` is the sequence of the last stop
of the trip that ends there. Stop sequences run on across trips (1..n for the whole route), so a
driver's "stop 7" is the same stop on every page. The plan API, the plan page, the driver app and
the live map all read the trips through `route_trips`.
"""

from datetime import datetime
from decimal import Decimal

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dispatch.models import Depot


def reload_moment(value) -> datetime | None:
    return value if isinstance(value, datetime) or value is None else parse_datetime(value)


def route_trips(route, stops=None) -> list[dict]:
    """[{"number", "first_sequence", "last_sequence", "stops", "start", "end", "load_kg", "load_items",
    "reload"}]: one entry per trip, in order. "start" is when the trip leaves (the route's start, or the
    end of the reload before it), "end" when it is done (the next reload's arrival, or the route's end);
    "reload" is the reload that ends the trip (None for the last). A route without reloads is one trip.
    `stops`: the route's stops with their orders (default: route.stops.all(), prefetched by callers)."""
    stops = sorted(stops if stops is not None else route.stops.all(), key=lambda stop: stop.sequence)
    reloads = sorted(route.reloads or [], key=lambda reload: int(reload["after_sequence"]))
    trips: list[dict] = []
    start = route.start
    bounds = [(int(reload["after_sequence"]), reload) for reload in reloads] + [(None, None)]
    first = 0
    for last_sequence, reload in bounds:
        members = [s for s in stops[first:] if last_sequence is None or s.sequence <= last_sequence]
        first += len(members)
        if not members and reload is not None:
            continue
        trips.append(
            {
                "number": len(trips) + 1,
                "first_sequence": members[0].sequence if members else None,
                "last_sequence": members[-1].sequence if members else None,
                "stops": len(members),
                "start": start,
                "end": reload_moment(reload["arrival"]) if reload else route.end,
                "load_kg": float(sum((Decimal(s.order.weight_kg) for s in members), Decimal("0"))),
                "load_items": sum(s.order.items for s in members),
                "reload": reload,
            }
        )
        if reload is not None:
            start = reload_moment(reload["departure"])
    return trips


def current_trip(route, stops=None, *, done_statuses=()) -> int | None:
    """The number of the trip a driver is on: the trip of the first stop not yet done (None: all done)."""
    stops = sorted(stops if stops is not None else route.stops.all(), key=lambda stop: stop.sequence)
    for trip in route_trips(route, stops):
        if trip["first_sequence"] is None:
            continue
        members = [s for s in stops if trip["first_sequence"] <= s.sequence <= trip["last_sequence"]]
        if any(s.order.status not in done_statuses for s in members):
            return trip["number"]
    return None


def route_reloads(route) -> list[dict]:
    """Route.reloads with the hub named and placed (for pages and the driver app); times as datetimes.
    One query, and only for a route that reloads."""
    reloads = sorted(route.reloads or [], key=lambda reload: int(reload["after_sequence"]))
    if not reloads:
        return []
    depots = Depot.objects.in_bulk({int(r["depot_id"]) for r in reloads})
    answer = []
    for reload in reloads:
        depot = depots.get(int(reload["depot_id"]))
        answer.append(
            {
                **reload,
                "arrival": reload_moment(reload["arrival"]),
                "departure": reload_moment(reload["departure"]),
                "depot_code": depot.code if depot else None,
                "depot_name": depot.name if depot else None,
                "is_micro_hub": bool(depot and depot.is_micro_hub),
                "lat": depot.lat if depot else None,
                "lon": depot.lon if depot else None,
            }
        )
    return answer


class ReloadOutput(serializers.Serializer):
    after_sequence = serializers.IntegerField(help_text="The last stop of the trip that ends with this reload")
    depot = serializers.IntegerField(source="depot_id", help_text="The depot or micro-hub it reloads at")
    depot_code = serializers.CharField(allow_null=True)
    depot_name = serializers.CharField(allow_null=True)
    is_micro_hub = serializers.BooleanField()
    lat = serializers.FloatField(allow_null=True)
    lon = serializers.FloatField(allow_null=True)
    arrival = serializers.DateTimeField(help_text="Back at the hub")
    departure = serializers.DateTimeField(help_text="Leaves the hub for the next trip (after reloading)")
    leg_duration_s = serializers.IntegerField(help_text="The drive from the last stop of the trip to the hub")
    leg_distance_m = serializers.IntegerField()
    load_kg = serializers.FloatField(required=False, help_text="Loaded for the next trip")
    load_items = serializers.IntegerField(required=False)


class TripOutput(serializers.Serializer):
    number = serializers.IntegerField(help_text="1, 2, ... in the order they are driven")
    first_sequence = serializers.IntegerField(allow_null=True)
    last_sequence = serializers.IntegerField(allow_null=True)
    stops = serializers.IntegerField()
    start = serializers.DateTimeField(allow_null=True, help_text="Leaves the depot or the hub")
    end = serializers.DateTimeField(allow_null=True, help_text="Back at the hub to reload, or the route's end")
    load_kg = serializers.FloatField(help_text="On board when the trip leaves")
    load_items = serializers.IntegerField()


class TripsMixin(serializers.Serializer):
    """`reloads` and `trips` of a route, for the plan API and the driver's route."""

    reloads = serializers.SerializerMethodField()
    trips = serializers.SerializerMethodField()

    @extend_schema_field(
        ReloadOutput(
            many=True,
            help_text="Multi-trip vehicles: where and when it goes back to reload between trips (empty: one trip)",
        )
    )
    def get_reloads(self, route) -> list[dict]:
        return ReloadOutput(route_reloads(route), many=True).data

    @extend_schema_field(TripOutput(many=True, help_text="The route's trips; a route without reloads is one trip"))
    def get_trips(self, route) -> list[dict]:
        return TripOutput(route_trips(route), many=True).data
