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
    return depot_scoped(Vehicle.objects.select_related("depot").prefetch_related("allowed_zones"), user)


def drivers_visible_to(user) -> QuerySet[Driver]:
    return depot_scoped(Driver.objects.select_related("user", "depot", "vehicle"), user)


def looks_like_id(value: str) -> bool:
    """Digits that can be a row id: "²".isdigit() is true but int("²") fails, and SQLite cannot
    take an integer beyond 64 bits (PostgreSQL's lookups just find nothing)."""
    return value.isascii() and value.isdigit() and len(value) <= 18
