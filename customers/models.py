"""Customer-facing records: tracking links (notifications, feedback and messages come with issue 7)."""

from django.db import models

from dispatch.models import Order


class TrackingLink(models.Model):
    """An unguessable link to one order's tracking page.

    The token itself is never stored. It is HMAC(SECRET_KEY, nonce): the database keeps the random
    128-bit nonce (so the server can show the link again) and HMAC(SECRET_KEY, token) as the lookup
    digest, so a copy of the database alone lets nobody open a tracking page.
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="tracking_links")
    nonce = models.BinaryField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Set when the order completes")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["order", "revoked_at"], name="tracking_link_order_active")]

    def __str__(self):
        return f"Tracking link for {self.order_id}"
