"""Customer-facing records: tracking links, promised windows, notifications (the outbox), their
templates, feedback and the two-way messages between a customer and the dispatchers."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from dispatch.models import Order


class TrackingLink(models.Model):
    """An unguessable link to one order's tracking page.

    The token itself is never stored. It is HMAC(SECRET_KEY, nonce): the database keeps the random
    128-bit nonce (so the server can show the link again) and HMAC(SECRET_KEY, token) as the lookup
    digest, so a copy of the database alone lets nobody open a tracking page.
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="tracking_links", verbose_name=_("order"))
    nonce = models.BinaryField(max_length=16, verbose_name=_("nonce"))
    digest = models.CharField(max_length=64, unique=True, verbose_name=_("digest"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Set when the order completes"), verbose_name=_("expires at")
    )
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))

    class Meta:
        verbose_name = _("tracking link")
        verbose_name_plural = _("tracking links")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["order", "revoked_at"], name="tracking_link_order_active")]

    def __str__(self):
        return f"Tracking link for {self.order_id}"


class PromisedWindow(models.Model):
    """The arrival window we told the customer, one per order and delivery day.

    `revision` grows each time a delay moves the promise, so each new promise is a new message
    (see Notification.occasion) while a retried task never sends the same one twice. The `told_*`
    fields are the promise as the customer was last told it: a revision made within the minimum
    interval between "delayed" messages waits there (customers.notifications.promises) until it is told.
    """

    order = models.OneToOneField(
        Order, on_delete=models.CASCADE, related_name="promised_window", verbose_name=_("order")
    )
    day = models.DateField(verbose_name=_("day"))
    start = models.DateTimeField(verbose_name=_("start"))
    end = models.DateTimeField(verbose_name=_("end"))
    revision = models.PositiveIntegerField(default=1, verbose_name=_("revision"))
    told_revision = models.PositiveIntegerField(default=1, verbose_name=_("told revision"))
    told_start = models.DateTimeField(null=True, blank=True, verbose_name=_("told start"))
    told_end = models.DateTimeField(null=True, blank=True, verbose_name=_("told end"))
    delay_told_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_('When the last "delayed" message went out (or goes out, after quiet hours)'),
        verbose_name=_("delay told at"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("promised window")
        verbose_name_plural = _("promised windows")
        constraints = [models.CheckConstraint(condition=Q(start__lt=models.F("end")), name="promise_start_before_end")]
        # The few promises with a revision not yet told, for the sweep (customers.notifications.promises.delay_messages_send_due).
        indexes = [
            models.Index(
                fields=["delay_told_at"], condition=Q(revision__gt=models.F("told_revision")), name="promise_untold"
            )
        ]

    def __str__(self):
        return f"{self.order_id}: {self.start:%H:%M}–{self.end:%H:%M} (r{self.revision})"


class Event(models.TextChoices):
    SCHEDULED = "scheduled", _("Order scheduled")
    OUT_FOR_DELIVERY = "out_for_delivery", _("Out for delivery")
    ARRIVING_SOON = "arriving_soon", _("Arriving soon")
    DELAYED = "delayed", _("Delayed")
    RESCHEDULED = "rescheduled", _("Taken off the route: we will reschedule")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Delivery failed")
    REPLY = "reply", _("Reply from the dispatcher")


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", "SMS"
    WEBHOOK = "webhook", "Webhook"


class NotificationTemplate(models.Model):
    """What each event says, per channel and language; managers edit these in the admin.

    Placeholders (Django template syntax): {{ name }}, {{ reference }}, {{ window_start }},
    {{ window_end }}, {{ date }}, {{ driver_first_name }}, {{ tracking_url }}, {{ reason }},
    {{ recipient_name }}, {{ delivered_at }}, {{ text }} (a dispatcher's reply).
    """

    event = models.CharField(max_length=24, choices=Event.choices, verbose_name=_("event"))
    channel = models.CharField(max_length=16, choices=Channel.choices, verbose_name=_("channel"))
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, verbose_name=_("language"))
    subject = models.CharField(max_length=200, blank=True, help_text=_("E-mail only"), verbose_name=_("subject"))
    body = models.TextField(verbose_name=_("body"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("notification template")
        verbose_name_plural = _("notification templates")
        ordering = ["event", "channel", "language"]
        constraints = [
            models.UniqueConstraint(fields=["event", "channel", "language"], name="notification_template_once")
        ]

    def __str__(self):
        return f"{self.get_event_display()} · {self.get_channel_display()} · {self.language}"


class Notification(models.Model):
    """One message to a customer (or the company's webhook): the outbox and the communication log.

    At most one row per (order, event, channel, occasion): the unique constraint makes a repeated
    event a no-op, and the task's conditional status update makes a retried task a no-op.
    `occasion` tells apart the same event on another day or for another promise revision.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        HELD = "held", _("Held (quiet hours)")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("order"))
    event = models.CharField(max_length=24, choices=Event.choices, verbose_name=_("event"))
    channel = models.CharField(max_length=16, choices=Channel.choices, verbose_name=_("channel"))
    occasion = models.CharField(max_length=64, default="", blank=True, verbose_name=_("occasion"))
    language = models.CharField(max_length=8, verbose_name=_("language"))
    recipient = models.CharField(max_length=254, blank=True, verbose_name=_("recipient"))
    subject = models.CharField(max_length=200, blank=True, verbose_name=_("subject"))
    body = models.TextField(verbose_name=_("body"))
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True, verbose_name=_("status")
    )
    status_reason = models.CharField(max_length=255, blank=True, verbose_name=_("status reason"))
    send_after = models.DateTimeField(
        null=True, blank=True, help_text=_("Held until then (quiet hours)"), verbose_name=_("send after")
    )
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    claimed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("claimed at"))
    provider_id = models.CharField(max_length=128, blank=True, verbose_name=_("provider id"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "event", "channel", "occasion"], name="notification_once"),
        ]
        indexes = [models.Index(fields=["status", "send_after"], name="notification_due")]

    def __str__(self):
        return f"{self.order_id} {self.event} by {self.channel}: {self.status}"


class Feedback(models.Model):
    """The customer's rating after delivery: one per order, updatable while the link is valid."""

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="feedback", verbose_name=_("order"))
    rating = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)], verbose_name=_("rating")
    )
    comment = models.TextField(blank=True, max_length=2000, verbose_name=_("comment"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="feedback_rating_1_5")]

    def __str__(self):
        return f"{self.order_id}: {self.rating}/5"


class CustomerMessage(models.Model):
    """A message in the conversation about one order: from the customer (in) or a dispatcher (out)."""

    class Direction(models.TextChoices):
        INBOUND = "in", _("From the customer")
        OUTBOUND = "out", _("To the customer")

    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="customer_messages", verbose_name=_("order")
    )
    direction = models.CharField(max_length=3, choices=Direction.choices, verbose_name=_("direction"))
    text = models.TextField(max_length=1000, verbose_name=_("text"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("author")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    read_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When a dispatcher read an inbound message"), verbose_name=_("read at")
    )

    class Meta:
        verbose_name = _("customer message")
        verbose_name_plural = _("customer messages")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["direction", "read_at"], name="message_unread")]

    def __str__(self):
        return f"{self.order_id} {self.direction}: {self.text[:40]}"
