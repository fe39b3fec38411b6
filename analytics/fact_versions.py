"""A version per day of facts in the shared cache, so figures cached for past days stay correct.

A figure computed from the facts of some days is cached under a key that includes every one of
those days' versions. `order_facts_refresh` gives each day it rebuilds (and each day it removes
moved orders from) a new random version, so entries computed from the old rows are never read
again; they expire on their own. A version that is missing (never set, or evicted by Redis) is
created on read, which also only means a cache miss.

Ordering that keeps this safe across processes (web workers and the Celery workers that rebuild
the facts): a reader takes the versions *before* it reads the facts, and a rebuild sets new
versions *after* its transaction commits. A reader that raced a rebuild has cached its figures
under versions that no longer exist. The rebuild also sets versions before committing, for
callers whose transaction never commits (tests run inside one).

A cache that cannot be reached is a miss for readers (analytics.selectors.kpis_of_past_period
reads the facts) and is logged by rebuilds, which go on.

The cache must be shared by every process, as the Django cache is in production (Redis). A
per-process cache (LocMemCache, the embedded default) would not see another process's rebuild
(`manage.py seed_demo` next to the server), so nothing is cached there.
"""

import logging
import uuid
from collections.abc import Iterable
from datetime import date, timedelta

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache

logger = logging.getLogger(__name__)

_KEY = "analytics:facts-version:{day}"


def is_shared_cache() -> bool:
    """Whether the default cache is seen by every process (Redis, Memcached, files, a database)."""
    return not isinstance(caches[DEFAULT_CACHE_ALIAS], LocMemCache | DummyCache)


def days_changed(days: Iterable[date]) -> None:
    """New versions for these days: figures cached from their old facts are not read again."""
    version = uuid.uuid4().hex
    try:
        cache.set_many({_KEY.format(day=day.isoformat()): version for day in set(days)}, timeout=None)
    except Exception:  # noqa: BLE001 - the facts are rebuilt either way; a cache outage must not undo that
        # Figures cached before the outage may then be served until they expire (PAST_PERIOD_CACHE_S).
        logger.exception("could not renew the versions of %d days of facts", len(set(days)))


def day_versions(date_from: date, date_to: date) -> list[str]:
    """The current version of each day of the range (created for days that have none)."""
    keys = [_KEY.format(day=(date_from + timedelta(days=n)).isoformat()) for n in range((date_to - date_from).days + 1)]
    found = cache.get_many(keys)
    missing = [key for key in keys if key not in found]
    for key in missing:
        # add(), not set(): a rebuild that set a version meanwhile must win.
        cache.add(key, uuid.uuid4().hex, timeout=None)
    if missing:
        found.update(cache.get_many(missing))
    # A version evicted between add() and get_many(): a fresh one, so nothing cached can match.
    return [found.get(key) or uuid.uuid4().hex for key in keys]
