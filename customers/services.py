"""Writes of the customers app."""

from django.db import transaction

from customers.models import TrackingLink
from customers.tracking_tokens import digest_for_token, new_nonce, token_for_nonce


@transaction.atomic
def tracking_links_create(*, orders) -> list[TrackingLink]:
    """Give each order (that has none yet) a fresh tracking link."""
    links = []
    for order in orders:
        nonce = new_nonce()
        links.append(TrackingLink(order=order, nonce=nonce, digest=digest_for_token(token_for_nonce(nonce))))
    return TrackingLink.objects.bulk_create(links, batch_size=1000)
