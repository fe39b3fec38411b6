"""A named lock that holds across processes and machines (Redis) or, embedded, across threads.

Used where two pieces of work must not interleave — e.g. two closures re-planning the same depot
and day. Slow work may run while it is held (it is not a database transaction).
"""

import threading
from contextlib import contextmanager

from django.conf import settings

_local_locks: dict[str, threading.Lock] = {}
_registry_lock = threading.Lock()


class LockTimeout(RuntimeError):
    pass


@contextmanager
def exclusive(name: str, *, hold_s: float = 600, wait_s: float = 300):
    """Hold `name` for at most `hold_s` (a crashed holder frees it then); wait at most `wait_s` for it."""
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        lock = client.lock(f"lock:{name}", timeout=hold_s, blocking_timeout=wait_s)
        if not lock.acquire():
            raise LockTimeout(f"could not get lock {name} within {wait_s} s")
        try:
            yield
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:
                pass  # it expired while held: whoever holds it now keeps it
            client.close()
    else:
        with _registry_lock:
            lock = _local_locks.setdefault(name, threading.Lock())
        if not lock.acquire(timeout=wait_s):
            raise LockTimeout(f"could not get lock {name} within {wait_s} s")
        try:
            yield
        finally:
            lock.release()
