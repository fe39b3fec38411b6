"""Fixed-window request counters in the cache (Redis in production, shared by every process)."""

import time

from django.core.cache import cache


def client_ip(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client says unless a proxy you trust rewrites it.
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def hit(key: str, *, limit: int, window_s: int) -> tuple[bool, int]:
    """Count one request against `key`; (allowed, seconds until the window resets)."""
    now = int(time.time())
    window = now // window_s
    cache_key = f"ratelimit:{key}:{window}"
    # add() then incr(): atomic in Redis and in locmem; the first request of a window creates it.
    if cache.add(cache_key, 1, timeout=window_s + 1):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.add(cache_key, 1, timeout=window_s + 1)
            count = 1
    return count <= limit, (window + 1) * window_s - now
