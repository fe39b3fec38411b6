"""Reads of the dispatch app, always scoped to what the user may see."""

from datetime import date

from django.db.models import Count, F, QuerySet

from dispatch.fleet.selectors import depot_scoped, looks_like_id
from dispatch.models import Order


def orders_visible_to(
    user,
    *,
    day: date | None = None,
    status: str | None = None,
    depot: str | None = None,
    zone: str | None = None,
    search: str | None = None,
) -> QuerySet[Order]:
    queryset = depot_scoped(Order.objects.select_related("depot", "zone", "customer"), user)
    if day is not None:
        queryset = queryset.filter(date=day)
    if status:
        queryset = queryset.filter(status__in=status.split(","))
    if depot:
        by_id = looks_like_id(depot)
        queryset = queryset.filter(depot_id=int(depot)) if by_id else queryset.filter(depot__code=depot)
    if zone:
        queryset = queryset.filter(zone__code=zone)
    if search:
        from django.db.models import Q

        queryset = queryset.filter(
            Q(reference__icontains=search) | Q(customer_name__icontains=search) | Q(address__icontains=search)
        )
    # Orders without a window last, on every database (SQLite sorts NULL first, PostgreSQL last).
    return queryset.order_by("date", F("window_start").asc(nulls_last=True), "reference")


def order_status_counts(user, *, day: date | None = None, **filters) -> dict[str, int]:
    """How many of the visible orders are in each status, under the same filters as orders_visible_to."""
    queryset = orders_visible_to(user, day=day, **filters).order_by()  # no ORDER BY: it would split the groups
    return dict(queryset.values("status").annotate(count=Count("id")).values_list("status", "count"))
