"""Depots, fleet, drivers, customers, zones and orders.

Loads are in kilograms, litres and items; coordinates are WGS84 degrees; money is in the
company's currency with two decimals. Delivery windows are stored as aware datetimes (the order's
date plus the local HH:MM of the import) so that lateness is a plain comparison, DST included.
"""

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dispatch.geometry import polygon_bbox


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
        try:
            polygon_bbox(self.polygon)
        except ValueError as exc:
            raise ValidationError({"polygon": str(exc)}) from None


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
        try:
            polygon_bbox(self.polygon)
        except ValueError as exc:
            raise ValidationError({"polygon": str(exc)}) from None


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


class Customer(models.Model):
    class Language(models.TextChoices):
        ENGLISH = "en", "English"
        GERMAN = "de", "Deutsch"

    name = models.CharField(max_length=160, blank=True, verbose_name=_("name"))
    phone = models.CharField(max_length=32, blank=True, db_index=True, verbose_name=_("phone"))
    email = models.EmailField(blank=True, db_index=True, verbose_name=_("email"))
    language = models.CharField(
        max_length=8, choices=Language.choices, default=Language.GERMAN, verbose_name=_("language")
    )
    notify_by_email = models.BooleanField(default=True, verbose_name=_("notify by email"))
    notify_by_sms = models.BooleanField(default=True, verbose_name=_("notify by sms"))
    opted_out = models.BooleanField(
        default=False, help_text=_("Sends nothing at all when set"), verbose_name=_("opted out")
    )
    quiet_hours_start = models.TimeField(null=True, blank=True, verbose_name=_("quiet hours start"))
    quiet_hours_end = models.TimeField(null=True, blank=True, verbose_name=_("quiet hours end"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["name"]

    def __str__(self):
        return self.name or self.email or self.phone or f"Customer {self.pk}"


class Order(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("New")
        PLANNED = "planned", _("Planned")
        DISPATCHED = "dispatched", _("Dispatched")
        EN_ROUTE = "en_route", _("En route")
        ARRIVED = "arrived", _("Arrived")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    # Dispatched and not yet delivered, failed or cancelled: a stop its driver still has to serve.
    ON_ROUTE_STATUSES = (Status.DISPATCHED, Status.EN_ROUTE, Status.ARRIVED)
    # Behind the driver: nothing left to do at this stop.
    DONE_STATUSES = (Status.DELIVERED, Status.FAILED, Status.CANCELLED)

    reference = models.CharField(max_length=64, unique=True, verbose_name=_("reference"))
    date = models.DateField(db_index=True, verbose_name=_("date"))
    depot = models.ForeignKey(Depot, on_delete=models.PROTECT, related_name="orders", verbose_name=_("depot"))
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders", verbose_name=_("customer")
    )
    customer_name = models.CharField(max_length=160, blank=True, verbose_name=_("customer name"))
    phone = models.CharField(max_length=32, blank=True, verbose_name=_("phone"))
    email = models.EmailField(blank=True, verbose_name=_("email"))
    address = models.CharField(max_length=255, blank=True, verbose_name=_("address"))
    lat = models.FloatField(verbose_name=_("lat"))
    lon = models.FloatField(verbose_name=_("lon"))
    geocoded = models.BooleanField(
        default=False, help_text=_("Coordinates came from the address, not the import"), verbose_name=_("geocoded")
    )
    window_start = models.DateTimeField(null=True, blank=True, verbose_name=_("window start"))
    window_end = models.DateTimeField(null=True, blank=True, verbose_name=_("window end"))
    # Empty: the time at the door the active travel model learned for this address, customer, zone
    # and vehicle (routes.learning.doorstep), else the company's default. An import's value wins.
    service_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=None,
        help_text=_("Minutes at the door; empty: learned from past deliveries"),
        verbose_name=_("service minutes"),
    )
    weight_kg = models.DecimalField(max_digits=8, decimal_places=2, default=0, verbose_name=_("weight kg"))
    volume_l = models.DecimalField(max_digits=8, decimal_places=1, default=0, verbose_name=_("volume l"))
    items = models.PositiveIntegerField(default=1, verbose_name=_("items"))
    skills = models.JSONField(default=list, blank=True, verbose_name=_("skills"))
    priority = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)], verbose_name=_("priority")
    )
    notes = models.TextField(blank=True, verbose_name=_("notes"))
    zone = models.ForeignKey(
        Zone, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders", verbose_name=_("zone")
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.NEW, db_index=True, verbose_name=_("status")
    )
    snap_distance_m = models.FloatField(
        null=True, blank=True, help_text=_("Distance to the nearest routable road"), verbose_name=_("snap distance m")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["date", "reference"]
        indexes = [models.Index(fields=["depot", "date", "status"], name="order_depot_date_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(window_start__isnull=True)
                | Q(window_end__isnull=True)
                | Q(window_start__lt=F("window_end")),
                name="order_window_start_before_end",
            ),
            models.CheckConstraint(
                condition=Q(weight_kg__gte=0, volume_l__gte=0, items__gte=0), name="order_loads_non_negative"
            ),
            models.CheckConstraint(condition=Q(priority__gte=0, priority__lte=100), name="order_priority_0_100"),
            models.CheckConstraint(
                condition=Q(lat__gte=-90, lat__lte=90, lon__gte=-180, lon__lte=180), name="order_coordinates_in_range"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "new",
                        "planned",
                        "dispatched",
                        "en_route",
                        "arrived",
                        "delivered",
                        "failed",
                        "cancelled",
                    ]
                ),
                name="order_status_valid",
            ),
        ]

    def __str__(self):
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.status not in (self.Status.DELIVERED, self.Status.CANCELLED)


class OrderStatusChange(models.Model):
    """Append-only history of an order's status: who changed it, when and where."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="status_history", verbose_name=_("order"))
    from_status = models.CharField(max_length=16, blank=True, verbose_name=_("from status"))
    to_status = models.CharField(max_length=16, verbose_name=_("to status"))
    changed_at = models.DateTimeField(
        db_index=True,
        help_text=_("When it happened: the driver's tap, even when the phone sent it later"),
        verbose_name=_("changed at"),
    )
    received_at = models.DateTimeField(
        default=timezone.now,
        help_text=_("When the server recorded it (later than changed_at for an offline phone)"),
        verbose_name=_("received at"),
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("changed by")
    )
    lat = models.FloatField(null=True, blank=True, verbose_name=_("lat"))
    lon = models.FloatField(null=True, blank=True, verbose_name=_("lon"))
    reason = models.CharField(max_length=64, blank=True, verbose_name=_("reason"))
    note = models.TextField(blank=True, verbose_name=_("note"))

    class Meta:
        verbose_name = _("order status change")
        verbose_name_plural = _("order status changes")
        ordering = ["changed_at", "id"]
        indexes = [models.Index(fields=["order", "changed_at"], name="status_change_order_time")]

    def __str__(self):
        return f"{self.order_id}: {self.from_status or '∅'} → {self.to_status}"

    def save(self, *args, **kwargs):
        # History is evidence (proof of delivery, disputes): rows are written once, never edited.
        if self.pk is not None:
            raise ValidationError("Order status history is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Order status history is append-only")

    @property
    def sent_later(self) -> bool:
        """Sent from a phone's offline queue well after it happened (a minute is just the network)."""
        return self.received_at - self.changed_at > timedelta(minutes=1)


class DriverPosition(models.Model):
    """Where a driver's phone was (append-only; old rows are pruned after POSITION_RETENTION_DAYS)."""

    driver = models.ForeignKey(Driver, on_delete=models.CASCADE, related_name="positions", verbose_name=_("driver"))
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("vehicle")
    )
    lat = models.FloatField(verbose_name=_("lat"))
    lon = models.FloatField(verbose_name=_("lon"))
    recorded_at = models.DateTimeField(
        help_text=_("When the phone measured it (may be earlier than received, offline)"), verbose_name=_("recorded at")
    )
    received_at = models.DateTimeField(auto_now_add=True, verbose_name=_("received at"))
    accuracy_m = models.FloatField(null=True, blank=True, verbose_name=_("accuracy m"))
    speed_mps = models.FloatField(null=True, blank=True, verbose_name=_("speed mps"))
    heading = models.FloatField(
        null=True, blank=True, help_text=_("Degrees clockwise from north"), verbose_name=_("heading")
    )

    class Meta:
        verbose_name = _("driver position")
        verbose_name_plural = _("driver positions")
        ordering = ["driver", "recorded_at"]
        indexes = [models.Index(fields=["driver", "-recorded_at"], name="position_driver_latest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(lat__gte=-90, lat__lte=90, lon__gte=-180, lon__lte=180),
                name="position_coordinates_in_range",
            ),
        ]

    def __str__(self):
        return f"{self.driver} at {self.recorded_at:%H:%M:%S}"


def proof_upload_path(instance, filename: str) -> str:
    return f"proof/{instance.order_id}/{filename}"


class ProofOfDelivery(models.Model):
    """What the driver collected at the door: who took it, a photo and/or a drawn signature."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="proofs", verbose_name=_("order"))
    driver = models.ForeignKey(
        Driver, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("driver")
    )
    recipient_name = models.CharField(max_length=160, blank=True, verbose_name=_("recipient name"))
    photo = models.FileField(upload_to=proof_upload_path, blank=True, verbose_name=_("photo"))
    signature = models.FileField(upload_to=proof_upload_path, blank=True, verbose_name=_("signature"))
    note = models.TextField(blank=True, verbose_name=_("note"))
    lat = models.FloatField(null=True, blank=True, verbose_name=_("lat"))
    lon = models.FloatField(null=True, blank=True, verbose_name=_("lon"))
    delivered_at = models.DateTimeField(
        help_text=_("When the driver handed it over (the tap, sent later if offline)"), verbose_name=_("delivered at")
    )
    received_at = models.DateTimeField(
        default=timezone.now, help_text=_("When the server recorded it"), verbose_name=_("received at")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("proof of delivery")
        verbose_name_plural = _("proofs of delivery")
        ordering = ["order", "-delivered_at"]

    def __str__(self):
        return f"Proof for {self.order_id}"


class IdempotencyRecord(models.Model):
    """The answer given to a request with an Idempotency-Key, replayed when the phone sends it again."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    key = models.CharField(max_length=128, verbose_name=_("key"))
    method = models.CharField(max_length=8, verbose_name=_("method"))
    path = models.CharField(max_length=255, verbose_name=_("path"))
    status_code = models.PositiveSmallIntegerField(verbose_name=_("status code"))
    response = models.JSONField(default=dict, verbose_name=_("response"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once_per_user")]

    def __str__(self):
        return f"{self.user_id}:{self.key}"


class Alert(models.Model):
    """Something a dispatcher should act on: a predicted late stop, an idle driver, a failed delivery."""

    class Kind(models.TextChoices):
        LATE = "late", _("Predicted late")
        IDLE = "idle", _("Driver idle")
        FAILED = "failed", _("Delivery failed")
        CLOSED_ROAD = "closed_road", _("Closed road")
        REPLAN_PROPOSAL = "replan_proposal", _("Re-plan to approve")
        HANDOFF_RETURNED = "handoff_returned", _("Hand-off returned")
        OTHER = "other", _("Other")

    depot = models.ForeignKey(Depot, on_delete=models.CASCADE, related_name="alerts", verbose_name=_("depot"))
    kind = models.CharField(max_length=16, choices=Kind.choices, verbose_name=_("kind"))
    message = models.CharField(max_length=500, verbose_name=_("message"))
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts", verbose_name=_("order")
    )
    driver = models.ForeignKey(
        Driver, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts", verbose_name=_("driver")
    )
    data = models.JSONField(default=dict, blank=True, verbose_name=_("data"))
    dedup_key = models.CharField(
        max_length=128, help_text=_("One open alert per key, e.g. late:<order id>"), verbose_name=_("dedup key")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    resolved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("resolved at"))
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedup_key"], condition=Q(resolved_at__isnull=True), name="alert_one_open_per_key"
            )
        ]
        indexes = [models.Index(fields=["depot", "resolved_at"], name="alert_depot_open")]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.message}"


class AuditEntry(models.Model):
    """Who did what, and when, to orders, plans, closures, vehicles, templates and personal data.

    Append-only: dispatch.audit.audit_record writes it, nothing changes or deletes it (the admin is
    read-only; on PostgreSQL a trigger refuses UPDATE and DELETE). It holds no personal values: the
    personal fields of a change are recorded by name only, so an erasure leaves nothing behind here.
    """

    class ActorKind(models.TextChoices):
        USER = "user", _("User")
        SYSTEM = "system", _("System")

    at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("at"))
    # No database constraint: deleting a user must not touch (or be blocked by) the log; the name stays.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_name = models.CharField(
        max_length=150, blank=True, help_text=_("The user name when it was written"), verbose_name=_("actor name")
    )
    actor_kind = models.CharField(
        max_length=8, choices=ActorKind.choices, default=ActorKind.USER, verbose_name=_("actor kind")
    )
    action = models.CharField(
        max_length=64,
        db_index=True,
        help_text=_("e.g. plan.dispatched, order.status_changed"),
        verbose_name=_("action"),
    )
    target_type = models.CharField(
        max_length=64, db_index=True, help_text=_("app_label.model, e.g. routes.plan"), verbose_name=_("target type")
    )
    target_id = models.CharField(max_length=64, blank=True, verbose_name=_("target id"))
    target_repr = models.CharField(max_length=200, blank=True, verbose_name=_("target repr"))
    changes = models.JSONField(default=dict, blank=True, verbose_name=_("changes"))
    request_id = models.CharField(max_length=128, blank=True, verbose_name=_("request id"))

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target")]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or self.actor_kind} {self.action} {self.target_repr}"


class UserPreference(models.Model):
    """A dashboard or driver-app user's own settings; for now the language the pages speak.

    Blank language: the browser's Accept-Language decides (dispatch.language.UserLanguageMiddleware).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference", verbose_name=_("user")
    )
    language = models.CharField(
        max_length=8,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("The language of the dashboard and the driver app; blank follows the browser"),
        verbose_name=_("language"),
    )

    class Meta:
        verbose_name = _("user preference")
        verbose_name_plural = _("user preferences")

    def __str__(self):
        return f"{self.user} ({self.language or 'browser'})"


class CourierPartner(models.Model):
    """A local courier firm we hand orders to: a mountain village, a pedestrian old town, a peak day.

    Its service area is a set of zones, or a GeoJSON polygon of its own (lon, lat order), or both; its
    prices are in the company's currency. The cut-off is a local time (settings.TIME_ZONE) on the
    delivery day: an order not accepted by then goes back to planning.
    """

    code = models.SlugField(
        max_length=32, unique=True, help_text=_("Short unique code used in the API"), verbose_name=_("code")
    )
    name = models.CharField(max_length=120, verbose_name=_("name"))
    contact_name = models.CharField(max_length=120, blank=True, verbose_name=_("contact name"))
    contact_phone = models.CharField(max_length=32, blank=True, verbose_name=_("contact phone"))
    contact_email = models.EmailField(blank=True, verbose_name=_("contact email"))
    zones = models.ManyToManyField(Zone, blank=True, related_name="courier_partners", verbose_name=_("zones"))
    area = models.JSONField(
        null=True,
        blank=True,
        help_text=_('GeoJSON Polygon: {"type": "Polygon", "coordinates": [[[lon, lat], ...]]}'),
        verbose_name=_("area"),
    )
    # ISO weekdays, 1 = Monday … 7 = Sunday.
    days = models.JSONField(
        default=list, blank=True, help_text=_("Weekdays served, 1 = Monday … 7 = Sunday"), verbose_name=_("days")
    )
    opens = models.TimeField(default=time(8), verbose_name=_("opens"))
    closes = models.TimeField(default=time(18), verbose_name=_("closes"))
    capacity_stops = models.PositiveIntegerField(
        default=0, help_text=_("Stops per day; 0 means no limit"), verbose_name=_("capacity stops")
    )
    capacity_kg = models.DecimalField(
        max_digits=8,
        decimal_places=1,
        null=True,
        blank=True,
        help_text=_("Kilograms per day; empty means no limit"),
        verbose_name=_("capacity kg"),
    )
    price_per_stop = models.DecimalField(max_digits=8, decimal_places=2, default=0, verbose_name=_("price per stop"))
    price_per_kg = models.DecimalField(max_digits=8, decimal_places=3, default=0, verbose_name=_("price per kg"))
    price_per_zone = models.JSONField(
        default=dict,
        blank=True,
        help_text=_('Extra price per stop by zone code, e.g. {"malbun": "4.50"}'),
        verbose_name=_("price per zone"),
    )
    cutoff = models.TimeField(
        default=time(7),
        help_text=_(
            "Local time by which it must accept: on the delivery day if before its opening time, else the day before"
        ),
        verbose_name=_("cutoff"),
    )
    skills = models.JSONField(
        default=list, blank=True, help_text=_('e.g. ["fridge", "two_person"]'), verbose_name=_("skills")
    )
    webhook_url = models.URLField(
        blank=True, help_text=_("Where its orders are posted (signed); empty sends none"), verbose_name=_("webhook url")
    )
    webhook_secret = models.CharField(
        max_length=128, blank=True, help_text=_("Signs the webhook (HMAC-SHA256)"), verbose_name=_("webhook secret")
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="courier_partners",
        help_text=_("Its logins (partner role)"),
        verbose_name=_("users"),
    )
    active = models.BooleanField(default=True, verbose_name=_("active"))
    # The customer sees a courier approaching only when the partner agreed to share where it is.
    shares_position = models.BooleanField(
        default=False,
        help_text=_("Its couriers' positions may be posted and shown to the customer on the tracking page"),
        verbose_name=_("shares position"),
    )

    class Meta:
        verbose_name = _("courier partner")
        verbose_name_plural = _("courier partners")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price_per_stop__gte=0, price_per_kg__gte=0), name="partner_prices_non_negative"
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.area:
            try:
                polygon_bbox(self.area)
            except ValueError as exc:
                raise ValidationError({"area": str(exc)}) from None

    def cutoff_at(self, day) -> datetime:
        """Its cut-off for a delivery day, as an aware datetime.

        A cut-off before the partner's opening time is on the delivery day itself (07:00 for a start at
        08:00); one at or after it is the evening before (17:55, 23:40: the partner plans its day then).
        Local wall time in settings.TIME_ZONE; on a DST day a time that does not exist (02:30 in spring)
        is read with the offset before the change, as Python's zoneinfo does, and normalised through UTC.
        Here, on the table, because the planner (routes.plans, make-or-buy) and the hand-off
        (dispatch.partners) must agree on it and the planner sits below the partners' layer.
        """
        zone = ZoneInfo(settings.TIME_ZONE)
        on_day = day if self.cutoff < self.opens else day - timedelta(days=1)
        moment = datetime.combine(on_day, self.cutoff, tzinfo=zone)
        return moment.astimezone(ZoneInfo("UTC")).astimezone(zone)

    def price_parts(self, order) -> dict:
        """What it charges for an order: "stop" (per stop), "kg" (per kilogram x the order's weight),
        "zone" (its extra for the order's zone), each rounded to the cent so the parts add up. Here,
        on the table, because the planner (routes.plans, make-or-buy) and the hand-off
        (dispatch.partners) must price alike and the planner sits below the partners' layer."""
        cent = Decimal("0.01")
        zone_extra = Decimal(str((self.price_per_zone or {}).get(getattr(order.zone, "code", None), 0) or 0))
        return {
            "stop": Decimal(self.price_per_stop).quantize(cent),
            "kg": (Decimal(self.price_per_kg) * Decimal(order.weight_kg)).quantize(cent),
            "zone": zone_extra.quantize(cent),
        }


class Handoff(models.Model):
    """An order handed to a courier partner, and what the partner did with it.

    The order's own status follows the same lifecycle as on our routes (dispatched, arrived, delivered,
    failed), so customers hear the same; this row says who has it and what it costs.
    """

    class Status(models.TextChoices):
        OFFERED = "offered", _("Offered")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        EXPIRED = "expired", _("Expired")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    # The partner still has the order (it may act on it).
    OPEN_STATUSES = (Status.OFFERED, Status.ACCEPTED)

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="handoffs", verbose_name=_("order"))
    partner = models.ForeignKey(
        CourierPartner, on_delete=models.PROTECT, related_name="handoffs", verbose_name=_("partner")
    )
    plan = models.ForeignKey(
        "routes.Plan", on_delete=models.SET_NULL, null=True, blank=True, related_name="handoffs", verbose_name=_("plan")
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OFFERED, verbose_name=_("status"))
    reason = models.CharField(max_length=500, blank=True, verbose_name=_("reason"))
    cost = models.DecimalField(max_digits=10, decimal_places=2, default=0, verbose_name=_("cost"))
    cutoff_at = models.DateTimeField(
        help_text=_("Accept by then, or the order goes back to planning"), verbose_name=_("cutoff at")
    )
    offered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("offered by"),
    )
    offered_at = models.DateTimeField(default=timezone.now, verbose_name=_("offered at"))
    accepted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("accepted at"))
    closed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("closed at"))
    occurred_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("When the partner says its latest action happened"),
        verbose_name=_("occurred at"),
    )
    webhook_key = models.CharField(
        max_length=64, blank=True, help_text=_("Idempotency key of the offer's webhook"), verbose_name=_("webhook key")
    )
    webhook_sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("webhook sent at"))
    webhook_attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("webhook attempts"))
    webhook_error = models.CharField(max_length=500, blank=True, verbose_name=_("webhook error"))
    # The price as it was when handed over, in parts (the monthly statement lists them): "stop", "kg",
    # "zone" as decimal strings; empty for a hand-off made before the parts were kept.
    price_parts = models.JSONField(default=dict, blank=True, verbose_name=_("price parts"))
    # Taking a hand-off back tells the partner by its own signed webhook (a second key, same retries).
    withdrawal_webhook_sent_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("withdrawal webhook sent at")
    )
    withdrawal_webhook_attempts = models.PositiveSmallIntegerField(
        default=0, verbose_name=_("withdrawal webhook attempts")
    )
    # The partner courier's newest position on the way to this order (only a partner that shares it).
    courier_lat = models.FloatField(null=True, blank=True, verbose_name=_("courier latitude"))
    courier_lon = models.FloatField(null=True, blank=True, verbose_name=_("courier longitude"))
    courier_position_at = models.DateTimeField(null=True, blank=True, verbose_name=_("courier position at"))

    class Meta:
        verbose_name = _("handoff")
        verbose_name_plural = _("handoffs")
        ordering = ["-offered_at", "-id"]
        constraints = [
            # One partner at a time: a second hand-off of the same order waits until the first is closed.
            models.UniqueConstraint(
                fields=["order"], condition=Q(status__in=["offered", "accepted"]), name="handoff_one_open_per_order"
            ),
        ]
        indexes = [models.Index(fields=["partner", "status"], name="handoff_partner_status")]

    def __str__(self):
        return f"{self.order_id} → {self.partner_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES
