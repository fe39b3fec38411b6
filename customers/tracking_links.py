"""Tracking links: the unguessable URL each order's customer follows (customers.tracking_tokens
derives the token; only its nonce and a lookup digest are stored), and how long it stays valid."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from customers.models import TrackingLink
from customers.tracking_tokens import digest_for_token, new_nonce, token_for_nonce
from dispatch.models import Order


@transaction.atomic
def tracking_links_create(*, orders) -> list[TrackingLink]:
    """Give each order a fresh tracking link."""
    links = []
    for order in orders:
        nonce = new_nonce()
        links.append(TrackingLink(order=order, nonce=nonce, digest=digest_for_token(token_for_nonce(nonce))))
    return TrackingLink.objects.bulk_create(links, batch_size=1000)


def tracking_link_ensure(*, order: Order) -> TrackingLink:
    """The order's active link, created when it has none (orders made through the API have none yet)."""
    link = TrackingLink.objects.filter(order=order, revoked_at__isnull=True).order_by("-created_at").first()
    return link or tracking_links_create(orders=[order])[0]


@transaction.atomic
def tracking_link_reissue(*, order: Order) -> TrackingLink:
    """Revoke the order's links (the old URL then answers 404) and issue a new one."""
    TrackingLink.objects.filter(order=order, revoked_at__isnull=True).update(revoked_at=timezone.now())
    (link,) = tracking_links_create(orders=[order])
    if not order.is_open or order.status == Order.Status.FAILED:
        link.expires_at = timezone.now() + timedelta(days=settings.TRACKING_LINK_TTL_DAYS)
        link.save(update_fields=["expires_at"])
    return link


def tracking_links_set_expiry(*, order_id: int, completed: bool) -> None:
    """Completed orders' links expire TRACKING_LINK_TTL_DAYS later; a reopened order's links live again."""
    links = TrackingLink.objects.filter(order_id=order_id, revoked_at__isnull=True)
    if completed:
        links.filter(expires_at__isnull=True).update(
            expires_at=timezone.now() + timedelta(days=settings.TRACKING_LINK_TTL_DAYS)
        )
    else:
        links.update(expires_at=None)


def tracking_url(link: TrackingLink) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/t/{token_for_nonce(link.nonce)}/"
