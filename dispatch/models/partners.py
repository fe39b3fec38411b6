"""Local courier partners and the orders handed to them."""

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dispatch.models.fleet import Zone, check_polygon
from dispatch.models.orders import Order


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
            check_polygon("area", self.area)

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
