"""Reads of the fleet, limited to the depots a user may see."""

from django.db.models import QuerySet

from dispatch.models import Depot, Driver, Vehicle, Zone
from dispatch.roles import visible_depot_ids


def depot_scoped(queryset: QuerySet, user, depot_field: str = "depot_id") -> QuerySet:
    """The rows of the depots `user` may see; `depot_field` names the depot's id on the row."""
    allowed = visible_depot_ids(user)
    if allowed is None:
        return queryset
    return queryset.filter(**{f"{depot_field}__in": allowed})


def depots_visible_to(user) -> QuerySet[Depot]:
    return depot_scoped(Depot.objects.all(), user, "id")


def zones_visible_to(user) -> QuerySet[Zone]:
    allowed = visible_depot_ids(user)
    queryset = Zone.objects.select_related("depot")
    if allowed is None:
        return queryset
    return queryset.filter(depot_id__in=allowed)


def vehicles_visible_to(user) -> QuerySet[Vehicle]:
    return depot_scoped(Vehicle.objects.select_related("depot").prefetch_related("allowed_zones", "reload_hubs"), user)


def drivers_visible_to(user) -> QuerySet[Driver]:
    return depot_scoped(Driver.objects.select_related("user", "depot", "vehicle"), user)


def looks_like_id(value: str) -> bool:
    """Digits that can be a row id: "²".isdigit() is true but int("²") fails, and SQLite cannot
    take an integer beyond 64 bits (PostgreSQL's lookups just find nothing)."""
    return value.isascii() and value.isdigit() and len(value) <= 18


def hub_parents() -> dict[int, Depot]:
    """Micro-hub id -> the depot that plans its orders, for hubs with no vehicles of their own.

    A micro-hub is a depot, and an order booked on a depot is planned with the vehicles based
    there. A hub that only feeds cargo bikes based elsewhere (they reload there) has none, so its
    orders are planned from the depot whose vehicles reload there (the one with the most such
    vehicles; on a tie, the first by code). A hub with vehicles of its own plans its orders itself."""
    based = set(Vehicle.objects.filter(depot__is_micro_hub=True).values_list("depot_id", flat=True))
    counts: dict[int, dict[int, int]] = {}
    for hub_id, depot_id in Vehicle.reload_hubs.through.objects.filter(depot__is_micro_hub=True).values_list(
        "depot_id", "vehicle__depot_id"
    ):
        if hub_id not in based and depot_id != hub_id:
            counts.setdefault(hub_id, {}).setdefault(depot_id, 0)
            counts[hub_id][depot_id] += 1
    depots = Depot.objects.in_bulk({d for c in counts.values() for d in c})
    return {
        hub_id: min((depots[d] for d in by_depot), key=lambda depot: (-by_depot[depot.id], depot.code))
        for hub_id, by_depot in counts.items()
    }
