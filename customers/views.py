"""The customer's tracking page (a minimal status page until the customer-communication issue)."""

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from customers.models import TrackingLink
from customers.tracking_tokens import digest_for_token


def tracking_page(request, token: str):
    link = (
        TrackingLink.objects.select_related("order")
        .filter(digest=digest_for_token(token), revoked_at__isnull=True)
        .first()
    )
    # One answer for unknown, revoked and expired links, so a guesser learns nothing.
    if link is None or (link.expires_at and link.expires_at < timezone.now()):
        raise Http404
    response = render(request, "customers/tracking.html", {"order": link.order})
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    response["Cache-Control"] = "no-store"
    return response
