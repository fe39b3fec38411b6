"""What happens while drivers are out and who did what: positions, alerts, the audit log, replayed
requests, users' preferences."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dispatch.models.fleet import Depot, Driver, Vehicle
from dispatch.models.orders import Order


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
