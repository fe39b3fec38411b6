"""The gate in front of every tracking URL (page, API, socket): token lookup and rate limits.

Unknown, malformed, expired and revoked tokens all end in the same Http404, and the rate limits
count every request, found or not, per client IP and per token (its digest, never the token).
"""

from django.conf import settings
from django.http import Http404

from config.security_headers import tile_source
from customers import selectors
from customers.rate_limits import client_ip, hit
from customers.tracking_tokens import digest_for_token

# Moves of one order a customer may make from its tracking page per hour (scope "reschedule").
RESCHEDULES_PER_HOUR = 10


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__("Too many requests")
        self.retry_after = retry_after


def link_for_request(request, token: str, *, scope: str = "view"):
    limits = [
        (f"ip:{client_ip(request)}", settings.TRACKING_RATE_PER_IP, 60),
        (f"token:{digest_for_token(token)[:32]}", settings.TRACKING_RATE_PER_TOKEN, 60),
    ]
    if scope == "message":
        limits.append((f"messages:{digest_for_token(token)[:32]}", settings.TRACKING_MESSAGES_PER_HOUR, 3600))
    elif scope == "reschedule":
        # Each move is a plan edit, an alert and a message: a few an hour is what a person needs.
        limits.append((f"reschedules:{digest_for_token(token)[:32]}", RESCHEDULES_PER_HOUR, 3600))
    for key, limit, window in limits:
        allowed, retry_after = hit(key, limit=limit, window_s=window)
        if not allowed:
            raise RateLimited(retry_after)
    link = selectors.tracking_link_for_token(token)
    if link is None:
        raise Http404
    return link


def security_headers(response, request=None):
    """What every tracking response carries: private, unindexed, uncached, and no foreign code."""
    host = request.get_host() if request is not None else ""
    tiles = f" {tile_source()}" if settings.MAP_TILE_URL else ""
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "no-store"
    response["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data:{tiles}; connect-src 'self' ws://{host} wss://{host}; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return response
