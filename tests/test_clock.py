"""The pinned clock of `make test-clock` (tests/conftest.py): the moments it names and what sees them."""

import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from dispatch.models import Customer
from tests.conftest import clock_moment

VADUZ = ZoneInfo("Europe/Vaduz")


def hours_in_day(day: date) -> float:
    # In UTC: Python subtracts two datetimes of one zone by their wall clocks.
    start, end = (datetime.combine(d, time(0), tzinfo=VADUZ).astimezone(UTC) for d in (day, day + timedelta(days=1)))
    return (end - start).total_seconds() / 3600


def test_it_names_the_evening_and_after_midnight_of_the_next_wednesday():
    evening = clock_moment("evening", today=date(2026, 12, 4), zone=VADUZ)  # a Friday
    assert evening == datetime(2026, 12, 9, 23, 40, tzinfo=VADUZ) and evening.weekday() == 2
    after_midnight = clock_moment("after-midnight", today=date(2026, 12, 4), zone=VADUZ)
    assert after_midnight - evening == timedelta(minutes=40)
    # On a Wednesday the next one is a week away: the moment is always in the future.
    assert clock_moment("evening", today=date(2026, 12, 9), zone=VADUZ).date() == date(2026, 12, 16)


def test_it_names_the_morning_of_the_next_monday():
    monday = clock_moment("monday-morning", today=date(2026, 12, 4), zone=VADUZ)  # a Friday
    assert monday == datetime(2026, 12, 7, 7, 0, tzinfo=VADUZ) and monday.weekday() == 0
    # On a Monday the next one is a week away: the moment is always in the future.
    assert clock_moment("monday-morning", today=date(2026, 12, 7), zone=VADUZ).date() == date(2026, 12, 14)


def test_it_names_moments_on_the_days_the_clocks_change():
    spring = clock_moment("spring-forward", today=date(2026, 12, 4), zone=VADUZ)
    assert spring == datetime(2027, 3, 28, 1, 40, tzinfo=VADUZ) and hours_in_day(spring.date()) == 23
    assert (spring.astimezone(UTC) + timedelta(minutes=30)).astimezone(VADUZ).hour == 3  # 02:10 does not exist
    autumn = clock_moment("fall-back", today=date(2026, 12, 4), zone=VADUZ)
    assert autumn.date() == date(2027, 10, 31) and hours_in_day(autumn.date()) == 25
    assert autumn.utcoffset() == timedelta(hours=2)  # the first 02:30, still summer time
    assert clock_moment("fall-back", today=date(2027, 10, 31), zone=VADUZ).date() == date(2028, 10, 29)


def test_it_reads_a_local_wall_time_or_refuses_a_bad_one():
    moment = clock_moment("2027-10-31T02:30+01:00", today=date(2026, 12, 4), zone=VADUZ)
    assert moment.astimezone(VADUZ).fold == 1  # the second 02:30
    assert clock_moment("2027-01-13T23:40", today=date(2026, 12, 4), zone=VADUZ).tzinfo is VADUZ
    with pytest.raises(pytest.UsageError, match="TEST_CLOCK='noon'"):
        clock_moment("noon", today=date(2026, 12, 4), zone=VADUZ)


@pytest.mark.clock
@pytest.mark.django_db
def test_it_starts_each_test_at_the_pinned_moment_in_every_thread_and_in_the_database(pinned_clock):
    if pinned_clock is None:
        pytest.skip("the clock is not pinned (make test-clock pins it)")
    assert timedelta(0) <= timezone.now() - pinned_clock < timedelta(minutes=1)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(timezone.now()))
    thread.start()
    thread.join()
    assert timedelta(0) <= seen[0] - pinned_clock < timedelta(minutes=1)  # a live server's thread, too
    customer = Customer.objects.create(name="Clock Watcher")  # created_at: the pinned time, through the database
    assert timedelta(0) <= Customer.objects.get(pk=customer.pk).created_at - pinned_clock < timedelta(minutes=1)
