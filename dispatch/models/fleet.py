"""Depots and micro-hubs, zones, vehicles (vans, bikes, drones), no-fly zones and drivers."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from dispatch.geometry import polygon_bbox


def check_polygon(field: str, polygon) -> None:
    """A model's clean(): `polygon` must be a GeoJSON Polygon, else a ValidationError on `field`."""
    try:
        polygon_bbox(polygon)
    except ValueError as exc:
        raise ValidationError({field: str(exc)}) from None


class Depot(models.Model):
    code = models.SlugField(
        max_length=32, unique=True, help_text=_("Short unique code used in imports and the API"), verbose_name=_("code")
    )
    name = models.CharField(max_length=120, verbose_name=_("name"))
    address = models.CharField(max_length=255, blank=True, verbose_name=_("address"))
    lat = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)], verbose_name=_("lat"))
    lon = models.FloatField(validators=[MinValueValidator(-180), MaxValueValidator(180)], verbose_name=_("lon"))
    opens = models.TimeField(default="07:00", verbose_name=_("opens"))
    closes = models.TimeField(default="19:00", verbose_name=_("closes"))
    # A micro-hub is a small depot in town (a container, a shop's back room) where cargo bikes and
    # drones reload between trips; its own opening hours apply to reloads there.
    is_micro_hub = models.BooleanField(
        default=False,
        help_text=_("A small hub in town where cargo bikes and drones reload between trips"),
        verbose_name=_("micro-hub"),
    )
    dispatchers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="dispatch_depots",
        help_text=_("Dispatchers who see and plan this depot's work"),
        verbose_name=_("dispatchers"),
    )

    class Meta:
        verbose_name = _("depot")
        verbose_name_plural = _("depots")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(opens__lt=F("closes")), name="depot_opens_before_closes"),
            models.CheckConstraint(
                condition=Q(lat__gte=-90, lat__lte=90, lon__gte=-180, lon__lte=180), name="depot_coordinates_in_range"
            ),
        ]

    def __str__(self):
        return f"{self.code} – {self.name}"


class Zone(models.Model):
    """A named delivery area. `polygon` is a GeoJSON Polygon (lon, lat order, outer ring first)."""

    code = models.SlugField(max_length=32, unique=True, verbose_name=_("code"))
    name = models.CharField(max_length=120, verbose_name=_("name"))
    depot = models.ForeignKey(
        Depot, on_delete=models.SET_NULL, null=True, blank=True, related_name="zones", verbose_name=_("depot")
    )
    polygon = models.JSONField(
        help_text=_('GeoJSON Polygon: {"type": "Polygon", "coordinates": [[[lon, lat], ...]]}'),
        verbose_name=_("polygon"),
    )
    access_time_s = models.PositiveIntegerField(
        default=0,
        help_text=_("Parking and walking time added to each stop's service time in this zone (seconds)"),
        verbose_name=_("access time s"),
    )
    color = models.CharField(max_length=7, default="#3b82f6", verbose_name=_("color"))

    class Meta:
        verbose_name = _("zone")
        verbose_name_plural = _("zones")
        ordering = ["code"]

    def __str__(self):
        return self.name

    def clean(self):
        check_polygon("polygon", self.polygon)


class Vehicle(models.Model):
    class Kind(models.TextChoices):
        VAN = "van", _("Van")
        CAR = "car", _("Car")
        CARGO_BIKE = "cargo_bike", _("Cargo bike")
        BIKE = "bike", _("Bike")
        DRONE = "drone", _("Drone")

    # Which network profile each kind of vehicle travels on. "drone" is not a road profile: a drone
    # flies in a straight line at its flight_speed_kmh (routes.optimizer.drones).
    PROFILE_BY_KIND = {
        Kind.VAN: "car", Kind.CAR: "car", Kind.CARGO_BIKE: "bike", Kind.BIKE: "bike", Kind.DRONE: "drone",
    }  # fmt: skip

    name = models.CharField(max_length=80, unique=True, verbose_name=_("name"))
    depot = models.ForeignKey(Depot, on_delete=models.PROTECT, related_name="vehicles", verbose_name=_("depot"))
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.VAN, verbose_name=_("kind"))
    capacity_kg = models.DecimalField(max_digits=8, decimal_places=1, verbose_name=_("capacity kg"))
    capacity_items = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("capacity items"))
    capacity_volume_l = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("capacity volume l"))
    shift_start = models.TimeField(default="08:00", verbose_name=_("shift start"))
    shift_end = models.TimeField(default="17:00", verbose_name=_("shift end"))
    cost_per_km = models.DecimalField(max_digits=8, decimal_places=3, default=0, verbose_name=_("cost per km"))
    cost_per_hour = models.DecimalField(max_digits=8, decimal_places=2, default=0, verbose_name=_("cost per hour"))
    fixed_cost = models.DecimalField(max_digits=8, decimal_places=2, default=0, verbose_name=_("fixed cost"))
    skills = models.JSONField(
        default=list, blank=True, help_text=_('e.g. ["fridge", "two_person"]'), verbose_name=_("skills")
    )
    allowed_zones = models.ManyToManyField(
        Zone,
        blank=True,
        related_name="vehicles",
        help_text=_("Territories this vehicle serves; empty means everywhere"),
        verbose_name=_("allowed zones"),
    )
    available = models.BooleanField(default=True, verbose_name=_("available"))
    # Multi-trip: a vehicle that may come back to reload. 1 trip = no reloads (every van today).
    max_trips = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text=_("Trips a day: above 1 the vehicle may come back to reload between trips"),
        verbose_name=_("max trips"),
    )
    reload_minutes = models.PositiveSmallIntegerField(
        default=10, help_text=_("Time to reload at a hub between two trips"), verbose_name=_("reload minutes")
    )
    reload_hubs = models.ManyToManyField(
        Depot,
        blank=True,
        related_name="reloading_vehicles",
        help_text=_("Micro-hubs where this vehicle may reload, besides its own depot"),
        verbose_name=_("reload hubs"),
    )
    # Drones only: straight-line flight speed and range per trip (out and back); the payload is capacity_kg.
    flight_speed_kmh = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=_("Drones: cruising speed"), verbose_name=_("flight speed km/h")
    )
    range_km = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("Drones: distance one trip may fly, out and back"),
        verbose_name=_("range km"),
    )

    class Meta:
        verbose_name = _("vehicle")
        verbose_name_plural = _("vehicles")
        ordering = ["depot__code", "name"]
        constraints = [
            # A shift that ends at or before its start ends the next day (a night shift, 22:00-06:00);
            # only an empty one (start == end) means nothing (routes.plans.inputs.shift_bounds).
            models.CheckConstraint(condition=~Q(shift_start=F("shift_end")), name="vehicle_shift_not_empty"),
            models.CheckConstraint(condition=Q(capacity_kg__gte=0), name="vehicle_capacity_kg_non_negative"),
            models.CheckConstraint(
                condition=Q(cost_per_km__gte=0, cost_per_hour__gte=0, fixed_cost__gte=0),
                name="vehicle_costs_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["van", "car", "cargo_bike", "bike", "drone"]), name="vehicle_kind_valid"
            ),
            models.CheckConstraint(condition=Q(max_trips__gte=1), name="vehicle_at_least_one_trip"),
        ]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def profile(self) -> str:
        return self.PROFILE_BY_KIND[self.kind]

    def clean(self):
        super().clean()
        if self.kind != self.Kind.DRONE:
            return
        # Without them a drone cannot be planned: its legs are timed by its speed, its trips bounded by its range.
        errors = {}
        if not self.flight_speed_kmh:
            errors["flight_speed_kmh"] = _("A drone needs its flight speed in km/h.")
        if self.range_km is None or self.range_km <= 0:
            errors["range_km"] = _("A drone needs its range in km (one trip, out and back).")
        if errors:
            raise ValidationError(errors)


class NoFlyZone(models.Model):
    """An area no drone may fly over (an airport, a hospital helipad, a prison, a crowd): no flight
    leg may cross it and no drone delivers inside it. `polygon` is GeoJSON (lon, lat order)."""

    name = models.CharField(max_length=120, verbose_name=_("name"))
    polygon = models.JSONField(
        help_text=_('GeoJSON Polygon: {"type": "Polygon", "coordinates": [[[lon, lat], ...]]}'),
        verbose_name=_("polygon"),
    )
    reason = models.CharField(max_length=255, blank=True, verbose_name=_("reason"))
    active = models.BooleanField(default=True, verbose_name=_("active"))

    class Meta:
        verbose_name = _("no-fly zone")
        verbose_name_plural = _("no-fly zones")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        check_polygon("polygon", self.polygon)


class Driver(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="driver", verbose_name=_("user")
    )
    name = models.CharField(max_length=120, verbose_name=_("name"))
    phone = models.CharField(max_length=32, blank=True, verbose_name=_("phone"))
    depot = models.ForeignKey(Depot, on_delete=models.PROTECT, related_name="drivers", verbose_name=_("depot"))
    vehicle = models.ForeignKey(
        Vehicle,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="drivers",
        help_text=_("Default vehicle"),
        verbose_name=_("vehicle"),
    )
    active = models.BooleanField(default=True, verbose_name=_("active"))
    # The latest position, kept on the driver so live views never scan the position history.
    last_lat = models.FloatField(null=True, blank=True, verbose_name=_("last lat"))
    last_lon = models.FloatField(null=True, blank=True, verbose_name=_("last lon"))
    last_heading = models.FloatField(null=True, blank=True, verbose_name=_("last heading"))
    last_speed_mps = models.FloatField(null=True, blank=True, verbose_name=_("last speed mps"))
    last_position_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last position at"))

    class Meta:
        verbose_name = _("driver")
        verbose_name_plural = _("drivers")
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else ""
