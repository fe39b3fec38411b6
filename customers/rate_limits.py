"""Fixed-window request counters in the cache (Redis in production, shared by every process)."""

import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)


def client_ip(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client says unless a proxy you trust rewrites it.
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def hit(key: str, *, limit: int, window_s: int) -> tuple[bool, int]:
    """Count one request against `key`; (allowed, seconds until the window resets).

    Fails open: while the cache (Redis) is down the request is allowed, since a customer's tracking
    page matters more than the count; the outage shows on /healthz and in the log."""
    now = int(time.time())
    window = now // window_s
    cache_key = f"ratelimit:{key}:{window}"
    try:
        count = _count(cache_key, window_s)
    except Exception as exc:  # noqa: BLE001 - any cache failure (connection refused, timeout) degrades to no limit
        logger.warning("rate limit not counted, the cache is unavailable: %s", exc)
        count = 0
    return count <= limit, (window + 1) * window_s - now


def _count(cache_key: str, window_s: int) -> int:
    # add() then incr(): atomic in Redis and in locmem; the first request of a window creates it.
    if cache.add(cache_key, 1, timeout=window_s + 1):
        return 1
    try:
        return cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.add(cache_key, 1, timeout=window_s + 1)
        return 1
