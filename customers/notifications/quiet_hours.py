"""A customer's quiet hours: wall-clock times of the company's zone (TIME_ZONE) during which
messages wait (customers.notifications.outbox holds them; "arriving soon" is skipped instead)."""

from datetime import datetime, timedelta

from django.utils import timezone


def quiet_hours_end(customer, now: datetime) -> datetime | None:
    """When the customer's quiet hours end, if `now` is inside them, else None.

    Both ends are local wall-clock times. The end is built on the local calendar (a day added is a
    calendar day, so 07:00 stays 07:00 across a DST change: 8 real hours from 23:00 on the night
    clocks go back become 9); zoneinfo gives a wall time that does not exist (spring) the offset
    from before the change, so 02:30 on that night means 03:30 summer time."""
    if customer is None or customer.quiet_hours_start is None or customer.quiet_hours_end is None:
        return None
    start, end = customer.quiet_hours_start, customer.quiet_hours_end
    local = timezone.localtime(now)
    moment = local.time()
    inside = start <= moment < end if start < end else (moment >= start or moment < end)
    if not inside:
        return None
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends
