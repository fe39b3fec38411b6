"""Shared fixtures: the personas of STYLE.md and a small two-depot company.

Personas: a dispatcher of depot A, a dispatcher of depot B, a manager, a driver (of depot A),
an anonymous visitor. Each `*_client` is a DRF APIClient authenticated by token, as integrators are.

The clock: no test may depend on the hour it runs at. A test that needs a time of day sets one
(`time_machine.travel(...)` or explicit datetimes) and compares datetimes, never "HH:MM" strings.
`make test-clock` proves it: it runs the tests marked `clock` with the whole session's clock pinned
(time_machine, ticking) at each of CLOCK_MOMENTS, in local time (TIME_ZONE):

    evening          23:40 on a Wednesday      (today's work ends in 20 minutes)
    after-midnight   00:20 on the Thursday     (today has just begun; yesterday is one hour ago)
    monday-morning   07:00 on a Monday         (the week begins: "the next Tuesday" is tomorrow, and
                                                a week ahead is past the page's seven days)
    spring-forward   01:40 on the last Sunday of March (02:00 jumps to 03:00: a 23-hour day)
    fall-back        02:30 (the first, CEST) on the last Sunday of October (a 25-hour day)

Each moment is the next such date from today, so the days are in the future. By hand:
`make test-production PYTEST_ARGS="-m clock" TEST_CLOCK=evening`, or any local wall time:
`TEST_CLOCK=2027-03-28T01:40` (`TEST_CLOCK=2027-10-31T02:30+01:00` for the second 02:30), or
`pytest --clock=...`. Every test then starts at the moment (the clock ticks from there), and so do
the session's fixtures, the live server's threads and in-process tasks; Chromium pages get the
same clock (tests/browser/conftest.py). Outside the process the clock is real: a test that depends
on PostgreSQL's now(), a Celery worker subprocess (`worker` marker: left out of the clock runs) or
Redis expiry against the pinned time does not belong in the clock set.

To add a module to the set: `pytestmark = pytest.mark.clock` (or a list with the other marks),
once it passes at every moment.
"""

import os
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import translation
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dispatch.fleet.services import driver_create
from dispatch.models import Depot, Vehicle
from dispatch.roles import DISPATCHER, MANAGER, ensure_role_groups

PASSWORD = "correct-horse-battery"

CLOCK_MOMENTS = ("evening", "after-midnight", "monday-morning", "spring-forward", "fall-back")


def _last_sunday(year: int, month: int) -> date:
    last = date(year, month + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def clock_moment(name: str, *, today: date, zone: ZoneInfo) -> datetime:
    """The aware datetime of a named moment (the next one after `today`) or of a local ISO wall time."""
    if name in ("evening", "after-midnight"):
        wednesday = today + timedelta(days=(2 - today.weekday()) % 7 or 7)
        if name == "evening":
            return datetime.combine(wednesday, time(23, 40), tzinfo=zone)
        return datetime.combine(wednesday + timedelta(days=1), time(0, 20), tzinfo=zone)
    if name == "monday-morning":
        return datetime.combine(today + timedelta(days=(0 - today.weekday()) % 7 or 7), time(7, 0), tzinfo=zone)
    if name in ("spring-forward", "fall-back"):
        month, wall = (3, time(1, 40)) if name == "spring-forward" else (10, time(2, 30))
        day = _last_sunday(today.year, month)
        if day <= today:
            day = _last_sunday(today.year + 1, month)
        return datetime.combine(day, wall, tzinfo=zone)  # fold=0: the first 02:30 of the autumn day
    try:
        moment = datetime.fromisoformat(name)
    except ValueError:
        raise pytest.UsageError(f"TEST_CLOCK={name!r}: one of {', '.join(CLOCK_MOMENTS)} or a local ISO time") from None
    return moment.astimezone(zone) if moment.tzinfo else moment.replace(tzinfo=zone)


def pytest_addoption(parser):
    parser.addoption(
        "--clock",
        default=os.environ.get("TEST_CLOCK", ""),
        help=f"pin the clock: {', '.join(CLOCK_MOMENTS)} or a local ISO wall time (env TEST_CLOCK)",
    )


def pytest_configure(config):
    from django.conf import settings

    config.pinned_clock = None
    if name := config.getoption("--clock"):
        zone = ZoneInfo(settings.TIME_ZONE)
        config.pinned_clock = clock_moment(name, today=datetime.now(zone).date(), zone=zone)
        # The session's fixtures (database, live server) start in the pinned time too.
        config.clock_traveller = time_machine.travel(config.pinned_clock.timestamp(), tick=True)
        config.clock_traveller.start()


def pytest_unconfigure(config):
    if getattr(config, "pinned_clock", None):
        config.clock_traveller.stop()


@pytest.fixture(scope="session", autouse=True)
def _fresh_redis():
    """The test database starts empty each session; so does the test Redis database. `make test`
    runs several sessions on one TEST_REDIS_URL (production, browser, each clock moment), and keys a
    session left (an announced ETA, a sweep's mark, a coalescing window) would meet the next
    session's rows, whose ids start again at 1.

    Only the database the Makefile names for tests (it exports TEST_REDIS_URL): a REDIS_URL left in a
    shell, pointing at real data, is never emptied."""
    from django.conf import settings

    if settings.REDIS_URL and settings.REDIS_URL == os.environ.get("TEST_REDIS_URL"):
        import redis

        redis.Redis.from_url(settings.REDIS_URL).flushdb()


def pytest_terminal_summary(terminalreporter, config):
    if moment := config.pinned_clock:  # which day it was, to run it again with TEST_CLOCK=<this>
        terminalreporter.write_line(f"clock pinned at {moment.isoformat()} ({moment:%A} {moment.tzname()})")


@pytest.fixture(autouse=True)
def pinned_clock(request):
    """The pinned moment (an aware local datetime) or None; each test starts at it, the clock ticking."""
    moment = request.config.pinned_clock
    if moment is None:
        yield None
        return
    with time_machine.travel(moment.timestamp(), tick=True):
        yield moment


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Tests create many users; the default hasher is deliberately slow.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _seed_reference_data() -> None:
    """What data migrations put in every database: role groups, traffic profiles, message templates.

    Transactional tests (live server, websockets, real workers) end with a flush that also removes
    these rows; put them back so that the order tests run in never matters.
    """
    from customers.models import NotificationTemplate
    from customers.notifications.texts import DEFAULT_TEMPLATES
    from routes.models import TrafficProfile
    from routes.network.traffic import default_weekday_factors, default_weekend_factors

    ensure_role_groups()
    if not TrafficProfile.objects.exists():
        TrafficProfile.objects.bulk_create(
            TrafficProfile(road_class=road_class, day_type=day_type, hourly_factors=[round(f, 3) for f in factors])
            for day_type, table in (("weekday", default_weekday_factors()), ("weekend", default_weekend_factors()))
            for road_class, factors in table.items()
        )
    if not NotificationTemplate.objects.exists():
        NotificationTemplate.objects.bulk_create(
            NotificationTemplate(event=event, channel=channel, language=language, subject=subject, body=body)
            for (event, channel, language), (subject, body) in DEFAULT_TEMPLATES.items()
        )


@pytest.fixture(autouse=True)
def _reference_data(request):
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames)
    if uses_db:
        request.getfixturevalue("transactional_db" if "transactional_db" in request.fixturenames else "db")
        _seed_reference_data()


@pytest.fixture(scope="session")
def _empty_tiles_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("no-tiles")


@pytest.fixture(autouse=True)
def _no_prepared_tiles(settings, _empty_tiles_dir):
    # The suite never depends on tiles a `make run` or `make test-browser` left in var/tiles: maps draw
    # the plain backdrop unless a test builds its tiles (tests/dispatch/test_basemap.py's built_tiles).
    settings.MAP_TILES_DIR = str(_empty_tiles_dir)


@pytest.fixture(autouse=True)
def _default_language_after_each_test():
    # A request through the test client activates its language in this thread and leaves it there
    # (LocaleMiddleware never undoes it): a German page test must not make the next test's services
    # (import errors, API errors, figures) speak German.
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _no_trailing_broadcast_after_the_test():
    # A live position broadcast deferred to the end of its coalescing window belongs to its test:
    # fired later it read another test's rows, or a database already dropped (seen in a clock run).
    yield
    from dispatch.live.broadcast import trailing_positions_cancel

    trailing_positions_cancel()


@pytest.fixture(autouse=True)
def _tasks_run_inline(settings):
    # Tasks run synchronously in the test's process unless a test starts a real worker.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.TASKS_RUN_INLINE = True


@pytest.fixture
def depot_a(db):
    return Depot.objects.create(code="A", name="Depot A", lat=47.14, lon=9.52)


@pytest.fixture
def depot_b(db):
    return Depot.objects.create(code="B", name="Depot B", lat=47.20, lon=9.53)


@pytest.fixture
def vehicle_a(depot_a):
    return Vehicle.objects.create(
        name="A-Van-1", depot=depot_a, kind="van", capacity_kg=800, capacity_items=100,
        shift_start=time(8), shift_end=time(17), skills=["fridge"],
    )  # fmt: skip


@pytest.fixture
def vehicle_b(depot_b):
    return Vehicle.objects.create(name="B-Bike-1", depot=depot_b, kind="cargo_bike", capacity_kg=150)


def _staff(username: str, role: str, depots=()):
    ensure_role_groups()
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    user.groups.add(Group.objects.get(name=role))
    for depot in depots:
        depot.dispatchers.add(user)
    return user


@pytest.fixture
def dispatcher_a(depot_a):
    return _staff("disp_a", DISPATCHER, [depot_a])


@pytest.fixture
def dispatcher_b(depot_b):
    return _staff("disp_b", DISPATCHER, [depot_b])


@pytest.fixture
def manager(db):
    user = _staff("manager", MANAGER)
    user.is_staff = True
    user.save()
    return user


@pytest.fixture
def driver_a(vehicle_a):
    return driver_create(username="driver_a", password=PASSWORD, name="Dana Driver", vehicle=vehicle_a)


def _client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def anonymous_client():
    return APIClient()


@pytest.fixture
def dispatcher_a_client(dispatcher_a):
    return _client_for(dispatcher_a)


@pytest.fixture
def dispatcher_b_client(dispatcher_b):
    return _client_for(dispatcher_b)


@pytest.fixture
def manager_client(manager):
    return _client_for(manager)


@pytest.fixture
def driver_client(driver_a):
    return _client_for(driver_a.user)
