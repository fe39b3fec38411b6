"""The demo is alive at any hour: today's orders and the fleet's shifts are laid out around the moment
the demo is seeded, a later day gets its own orders once, and nothing else moves."""

from datetime import UTC, date, datetime, time, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command

from dispatch.demo.seeding import FLEET, demo_orders_of, demo_seed
from dispatch.models import Order, Vehicle

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

ZONE = ZoneInfo(settings.TIME_ZONE)
WEDNESDAY = date(2026, 6, 10)
SPRING_FORWARD = date(2026, 3, 29)  # 02:00 jumps to 03:00
FALL_BACK = date(2026, 10, 25)  # 03:00 goes back to 02:00
ORDERS = 30


def _local(day: date, hour: int, minute: int = 0, fold: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE).replace(fold=fold)


def _shift(vehicle: Vehicle, day: date) -> tuple[datetime, datetime]:
    """The vehicle's shift on `day` as instants; an end at or before the start is the next morning."""
    end_day = day + timedelta(days=1) if vehicle.shift_end <= vehicle.shift_start else day
    start = datetime.combine(day, vehicle.shift_start, tzinfo=ZONE)
    return start.astimezone(UTC), datetime.combine(end_day, vehicle.shift_end, tzinfo=ZONE).astimezone(UTC)


def _demo_vehicles():
    return Vehicle.objects.filter(name__in=[f"{code}-{suffix}" for code in ("VDZ", "ESN") for suffix, *_ in FLEET])


def _windows(day: date) -> dict[str, tuple]:
    return {o.reference: (o.window_start, o.window_end) for o in demo_orders_of(day)}


@pytest.mark.parametrize(
    "moment",
    [
        _local(WEDNESDAY, 7),
        _local(WEDNESDAY, 14),
        _local(WEDNESDAY, 17, 55),
        _local(WEDNESDAY, 22, 30),
        _local(WEDNESDAY, 23, 40),
        _local(WEDNESDAY, 0, 20),
        _local(SPRING_FORWARD, 1, 40),
        _local(FALL_BACK, 2, 10),  # the first 02:10 (summer time): windows fall into the repeated hour
        _local(FALL_BACK, 2, 10, fold=1),  # the second one (winter time)
    ],
    ids=lambda m: m.isoformat(),
)
def test_it_lays_out_todays_demo_around_the_moment_it_is_seeded(moment):
    with time_machine.travel(moment, tick=False):
        now = datetime.now(UTC)
        today = moment.date()
        summary = demo_seed(day=today, orders=ORDERS)

        orders = list(demo_orders_of(today))
        assert summary.orders_created == ORDERS == len(orders)
        assert all(o.date == today and o.status == Order.Status.NEW for o in orders)
        windowed = [o for o in orders if o.window_start]
        assert len(windowed) >= ORDERS // 2
        first_start = min(o.window_start for o in windowed)
        # Time to plan and load before the first window opens, and not hours later either.
        assert now + timedelta(minutes=30) <= first_start <= now + timedelta(minutes=45)
        for order in windowed:
            assert order.window_start >= first_start
            assert order.window_end - order.window_start >= timedelta(hours=2)
            assert order.window_start.astimezone(UTC).minute % 15 == 0
        last_end = max(o.window_end for o in windowed)
        assert last_end <= now + timedelta(hours=9)

        for vehicle in _demo_vehicles():
            shift_start, shift_end = _shift(vehicle, today)
            # A time of day cannot say which 02:00 of the autumn night it means: the earlier one, an hour early.
            slack = timedelta(hours=1) if moment.fold else timedelta()
            assert now - timedelta(minutes=15) - slack < shift_start <= now, vehicle.name
            assert shift_end >= last_end, vehicle.name
            assert shift_end - shift_start == timedelta(hours=9) + slack, vehicle.name


def test_it_lays_out_a_later_day_once_and_leaves_other_days_and_the_history_alone():
    from routes.models import Route

    later = WEDNESDAY + timedelta(days=1)
    seed = ["seed_demo", "--if-empty", "--orders", "20", "--days", "3"]
    with time_machine.travel(_local(WEDNESDAY, 14), tick=False):
        call_command(*seed, stdout=StringIO())
    history = {o.pk: (o.date, o.window_start, o.window_end, o.status) for o in Order.objects.all()}
    assert {day for day, *_ in history.values()} == {WEDNESDAY - timedelta(days=n) for n in (0, 1, 2)}  # no Sunday
    # Past days were classic days: their routes left at 08:00 whatever the hour the demo was seeded.
    starts = {r.start.astimezone(ZONE).time() for r in Route.objects.filter(plan__date__lt=WEDNESDAY)}
    assert starts == {time(8)}

    seven = _local(later, 7)
    with time_machine.travel(seven, tick=False):
        out = StringIO()
        call_command(*seed, stdout=out)
        assert "20 orders created for 2026-06-11" in out.getvalue()
        assert "Demo history exists" in out.getvalue()
        laid_out = _windows(later)
        assert len(laid_out) == 20
        assert min(start for start, _ in laid_out.values() if start) == seven + timedelta(minutes=30)
        for vehicle in _demo_vehicles():
            assert _shift(vehicle, later)[0] == seven

        call_command(*seed, stdout=StringIO())  # `make run` again the same morning
    assert _windows(later) == laid_out
    assert Order.objects.filter(date=later).count() == 20
    assert {
        o.pk: (o.date, o.window_start, o.window_end, o.status) for o in Order.objects.exclude(date=later)
    } == history


def test_it_lays_untouched_orders_out_again_once_their_first_window_has_closed():
    with time_machine.travel(_local(WEDNESDAY, 7), tick=False):
        demo_seed(day=WEDNESDAY, orders=ORDERS)
    morning = _windows(WEDNESDAY)

    with time_machine.travel(_local(WEDNESDAY, 9), tick=False):  # the first window (07:30-09:30) is still open
        assert demo_seed(day=WEDNESDAY, orders=ORDERS).orders_relaid == 0
    assert _windows(WEDNESDAY) == morning

    evening = _local(WEDNESDAY, 20, 5)
    with time_machine.travel(evening, tick=False):
        summary = demo_seed(day=WEDNESDAY, orders=ORDERS)
    assert (summary.orders_created, summary.orders_relaid) == (0, ORDERS)
    again = _windows(WEDNESDAY)
    assert again.keys() == morning.keys()
    assert min(start for start, _ in again.values() if start) == evening + timedelta(minutes=40)  # 20:45
    # The same orders, the same kinds of window: only moved in time.
    assert {ref for ref, (start, _) in again.items() if start} == {ref for ref, (start, _) in morning.items() if start}
    assert {end - start for start, end in again.values() if start} == {end - start for start, end in morning.values() if start}  # fmt: skip


def test_it_leaves_todays_orders_where_they_are_once_a_dispatcher_has_planned_them():
    with time_machine.travel(_local(WEDNESDAY, 7), tick=False):
        demo_seed(day=WEDNESDAY, orders=ORDERS)
    demo_orders_of(WEDNESDAY).filter(pk=demo_orders_of(WEDNESDAY).first().pk).update(status=Order.Status.PLANNED)
    morning = _windows(WEDNESDAY)
    shifts = list(_demo_vehicles().values_list("shift_start", "shift_end"))

    with time_machine.travel(_local(WEDNESDAY, 20), tick=False):
        assert demo_seed(day=WEDNESDAY, orders=ORDERS).orders_relaid == 0
    assert _windows(WEDNESDAY) == morning
    assert list(_demo_vehicles().values_list("shift_start", "shift_end")) == shifts


@pytest.mark.parametrize(
    ("moment", "shift", "first_window", "last_window_end"),
    [
        (
            _local(WEDNESDAY, 7),
            (_local(WEDNESDAY, 7), _local(WEDNESDAY, 16)),
            _local(WEDNESDAY, 7, 30),
            _local(WEDNESDAY, 15),
        ),
        (
            _local(WEDNESDAY, 22, 30),
            (_local(WEDNESDAY, 22, 30), _local(WEDNESDAY + timedelta(days=1), 7, 30)),
            _local(WEDNESDAY, 23),
            _local(WEDNESDAY + timedelta(days=1), 6, 30),
        ),
        (
            _local(WEDNESDAY, 23, 52),
            (_local(WEDNESDAY, 23, 45), _local(WEDNESDAY + timedelta(days=1), 8, 45)),
            _local(WEDNESDAY + timedelta(days=1), 0, 30),
            _local(WEDNESDAY + timedelta(days=1), 8),
        ),
        # A 23-hour day: nine hours after 01:30 is 11:30 on the clock.
        (
            _local(SPRING_FORWARD, 1, 40),
            (_local(SPRING_FORWARD, 1, 30), _local(SPRING_FORWARD, 11, 30)),
            _local(SPRING_FORWARD, 3, 15),
            _local(SPRING_FORWARD, 10, 45),
        ),
    ],
    ids=lambda v: v.isoformat() if isinstance(v, datetime) else None,
)
def test_it_lays_the_demo_day_out_in_real_time_across_midnight_and_clock_changes(
    moment, shift, first_window, last_window_end
):
    from dispatch.demo.seeding import DemoDay

    layout = DemoDay.around(moment)
    assert (layout.shift_start, layout.shift_end) == shift
    assert (layout.first_window, layout.last_window_end) == (first_window, last_window_end)


def test_the_simulator_says_how_to_lay_out_today_when_the_demo_day_was_yesterday():
    from django.core.management.base import CommandError

    with time_machine.travel(_local(WEDNESDAY, 22, 30), tick=False):
        demo_seed(day=WEDNESDAY, orders=5)
    with time_machine.travel(_local(WEDNESDAY + timedelta(days=1), 0, 20), tick=False):
        with pytest.raises(CommandError, match=r"the day has no orders\. Start `make run` again"):
            call_command("simulate_fleet", "--url", "http://127.0.0.1:9")
