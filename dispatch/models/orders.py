"""Customers, orders, their status history and proof of delivery.

Delivery windows are stored as aware datetimes (the order's date plus the local HH:MM of the import)
so that lateness is a plain comparison, DST included.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dispatch.models.fleet import Depot, Driver, Zone


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
