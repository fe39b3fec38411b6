"""A depot's slot grid for a day and the rules of its SlotPolicy: which windows are offered, and until
when each can be booked.

Times are the company's local wall-clock times (a 10:00-12:00 window is 10:00-12:00 on the day the
clocks change too); moments are aware datetimes compared as such. A window whose start or end does not
exist that day (the hour skipped in spring) is not offered.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from dispatch.models import Depot
from routes.models import SlotPolicy


@dataclass(frozen=True)
class Slot:
    start: datetime  # aware, local zone
    end: datetime

    @property
    def start_label(self) -> str:
        return f"{self.start:%H:%M}"

    @property
    def end_label(self) -> str:
        # A window ending at midnight ends at 24:00 of its own day, not at 00:00.
        return "24:00" if self.end.date() > self.start.date() and self.end.time() == time(0) else f"{self.end:%H:%M}"


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def policy_for(depot: Depot) -> SlotPolicy:
    """The depot's policy, or the defaults (unsaved) when the dispatcher has set none."""
    try:
        return depot.slot_policy
    except SlotPolicy.DoesNotExist:
        return SlotPolicy(depot=depot)


def _exists(moment: datetime) -> bool:
    """False for a wall-clock time the clocks skip (spring forward): zoneinfo would shift it silently."""
    round_trip = moment.astimezone(UTC).astimezone(moment.tzinfo)
    return round_trip.replace(tzinfo=None) == moment.replace(tzinfo=None)


def _minutes(at: time | str) -> int:
    if isinstance(at, str):  # a depot made in code and not read back keeps its field default, "07:00"
        at = time.fromisoformat(at)
    return at.hour * 60 + at.minute


def day_grid(depot: Depot, day: date, policy: SlotPolicy) -> list[Slot]:
    """Every window the policy offers on `day`, in order (hidden ones left out), whatever the fleet."""
    zone = local_zone()
    first = _minutes(policy.first_slot_start or depot.opens)
    last = _minutes(policy.last_slot_end or depot.closes)
    hidden = set(policy.hidden_slots or [])
    step = max(15, int(policy.slot_minutes))
    slots = []
    for start_min in range(first, last - step + 1, step):
        end_min = start_min + step
        start = datetime.combine(day, time(start_min // 60, start_min % 60), tzinfo=zone)
        end = (
            datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
            if end_min >= 24 * 60
            else datetime.combine(day, time(end_min // 60, end_min % 60), tzinfo=zone)
        )
        if not (_exists(start) and _exists(end)):
            continue
        slot = Slot(start=start, end=end)
        if slot.start_label not in hidden:
            slots.append(slot)
    return slots


def day_offered(day: date, policy: SlotPolicy) -> bool:
    return day.weekday() in set(policy.weekdays or [])


def booking_closes_at(slot: Slot, day: date, policy: SlotPolicy) -> datetime:
    """The moment a window stops taking bookings: `lead_minutes` before it starts, and no later than
    the day-before cut-off when the policy has one. Real minutes (UTC arithmetic): two hours before
    03:00 on the spring-forward night is 00:00, not 01:00."""
    closes = (slot.start.astimezone(UTC) - timedelta(minutes=int(policy.lead_minutes))).astimezone(local_zone())
    if policy.day_before_cutoff is not None:
        day_before = datetime.combine(day - timedelta(days=1), policy.day_before_cutoff, tzinfo=local_zone())
        closes = min(closes, day_before)
    return closes


def find_slot(slots: list[Slot], start: str, end: str) -> Slot | None:
    for slot in slots:
        if slot.start_label == start and slot.end_label == end:
            return slot
    return None
