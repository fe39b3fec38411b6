"""Reads of road closures."""

from django.db.models import QuerySet
from django.utils import timezone

from routes.models import RoadClosure


def closures_list(*, active_only: bool = False) -> QuerySet[RoadClosure]:
    queryset = RoadClosure.objects.select_related("created_by")
    if active_only:
        queryset = queryset.active_at(timezone.now())
    return queryset.order_by("-starts_at", "-id")
