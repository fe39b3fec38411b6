"""Reads of the customers app."""

from django.urls import reverse

from customers.models import TrackingLink
from customers.tracking_tokens import token_for_nonce


def tracking_path_for_link(link: TrackingLink) -> str:
    return reverse("customers:tracking_page", kwargs={"token": token_for_nonce(link.nonce)})


def active_tracking_links_by_order(order_ids) -> dict[int, TrackingLink]:
    links = {}
    for link in TrackingLink.objects.filter(order_id__in=list(order_ids), revoked_at__isnull=True).order_by(
        "created_at"
    ):
        links[link.order_id] = link  # newest wins
    return links
