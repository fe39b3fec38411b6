"""Road closures, traffic speed profiles and the record of the loaded road network.

Geometries are GeoJSON in (lon, lat) order; times are aware datetimes.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class RoadNetworkBuild(models.Model):
    """One preparation of an OSM extract; every process loads the active one from `path`."""

    source = models.CharField(max_length=255, help_text="The .osm.pbf file it was built from")
    path = models.CharField(max_length=255, help_text="Directory of the prepared network")
    built_at = models.DateTimeField(default=timezone.now)
    summary = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-built_at"]

    def __str__(self):
        return f"{self.source} ({self.built_at:%Y-%m-%d %H:%M})"


class RoadClosureQuerySet(models.QuerySet):
    def active_at(self, moment):
        return self.filter(lifted_at__isnull=True, starts_at__lte=moment).filter(
            Q(ends_at__isnull=True) | Q(ends_at__gt=moment)
        )


class RoadClosure(models.Model):
    """A stretch of road that cannot be used while the closure is active.

    `version` rises with every change (geometry, times, lifting) so that re-planning work can be
    made idempotent on (closure, version).
    """

    geometry = models.JSONField(help_text="GeoJSON LineString or Polygon, [lon, lat] positions")
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until lifted")
    reason = models.CharField(max_length=255)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)

    objects = RoadClosureQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")), name="closure_ends_after_start"
            )
        ]

    def __str__(self):
        return f"Closure {self.pk}: {self.reason}"

    def clean(self):
        from routes.closure_geometry import validate_closure_geometry

        try:
            validate_closure_geometry(self.geometry)
        except ValueError as exc:
            raise ValidationError({"geometry": str(exc)}) from None

    def is_active(self, moment=None) -> bool:
        moment = moment or timezone.now()
        return self.lifted_at is None and self.starts_at <= moment and (self.ends_at is None or self.ends_at > moment)


class TrafficProfile(models.Model):
    """Hourly speed factors for a road class: 0.6 at 08 h means 60 % of free-flow speed then."""

    class DayType(models.TextChoices):
        WEEKDAY = "weekday", "Monday–Friday"
        WEEKEND = "weekend", "Saturday and Sunday"

    road_class = models.CharField(max_length=32, help_text="OSM highway class, e.g. primary, residential")
    day_type = models.CharField(max_length=8, choices=DayType.choices, default=DayType.WEEKDAY)
    hourly_factors = models.JSONField(help_text="24 numbers, one per local hour 00–23, each between 0.05 and 1.5")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["day_type", "road_class"]
        constraints = [models.UniqueConstraint(fields=["road_class", "day_type"], name="traffic_profile_unique")]

    def __str__(self):
        return f"{self.road_class} ({self.get_day_type_display()})"

    def clean(self):
        factors = self.hourly_factors
        if not isinstance(factors, list) or len(factors) != 24:
            raise ValidationError({"hourly_factors": "give exactly 24 numbers, one per hour"})
        for hour, value in enumerate(factors):
            if not isinstance(value, (int, float)) or not 0.05 <= value <= 1.5:
                raise ValidationError(
                    {"hourly_factors": f"hour {hour:02d}: {value!r} is not a number from 0.05 to 1.5"}
                )
