"""Driver positions: a phone's batch in (append-only history plus the driver's latest position), old
history out after POSITION_RETENTION_DAYS.

This is the hot path of live operations (every driver posts every few seconds), so a batch costs a
fixed number of statements whatever its size: one INSERT for the rows, one conditional UPDATE for
the driver's latest position.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from config import metrics
from config.tasks import enqueue
from dispatch.live import broadcast as live
from dispatch.models import Driver, DriverPosition

# A phone buffers while offline; a batch larger than this is split by the app (API.md, Drivers).
MAX_POSITIONS_PER_BATCH = 500
# Phone clocks drift; a position further ahead than this is a broken clock, not a measurement.
MAX_CLOCK_AHEAD = timedelta(minutes=5)
_PRUNE_CHUNK = 10_000


def clock_ahead_problem(moment: datetime, *, now: datetime) -> str | None:
    """What is wrong with a time a phone sent (a position, a stop action) that lies too far ahead of
    the server's clock, or None when it is within MAX_CLOCK_AHEAD."""
    if moment <= now + MAX_CLOCK_AHEAD:
        return None
    minutes = int(MAX_CLOCK_AHEAD / timedelta(minutes=1))
    return _("is more than %(minutes)s minutes in the future (check the phone's clock)") % {"minutes": minutes}


@dataclass(frozen=True)
class PositionsRecorded:
    accepted: int
    # True when the batch carried a position newer than the driver's latest one (offline batches often don't).
    moved: bool
    latest_recorded_at: datetime


@transaction.atomic
def driver_positions_record(
    *, driver: Driver, positions: Sequence[Mapping], received_at: datetime | None = None
) -> PositionsRecorded:
    """Store a batch of validated positions ({lat, lon, recorded_at, accuracy_m?, speed_mps?, heading?}).

    `received_at`: only a simulator replaying a past day gives it (the moment its phone posted, as
    the doorstep actions' received_at): what the move sets off (live ETAs, the promises they move)
    is then as of that moment. A real phone's batch is received now."""
    rows = [
        DriverPosition(
            driver_id=driver.pk,
            vehicle_id=driver.vehicle_id,
            lat=position["lat"],
            lon=position["lon"],
            recorded_at=position["recorded_at"],
            accuracy_m=position.get("accuracy_m"),
            speed_mps=position.get("speed_mps"),
            heading=position.get("heading"),
        )
        for position in positions
    ]
    if connection.vendor == "postgresql":
        # Positions are telemetry: this commit need not wait for the WAL flush to disk. A database
        # crash can lose the last fraction of a second of positions (never half a batch, never the
        # order history, which commits durably); the phone's next post restores the live state.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
    DriverPosition.objects.bulk_create(rows, batch_size=MAX_POSITIONS_PER_BATCH)
    newest = max(rows, key=lambda row: row.recorded_at)
    # Conditional UPDATE, decided by the database: a late offline batch, or a batch racing another
    # one from the same phone on a second web process, never moves the latest position backwards.
    moved = (
        Driver.objects.filter(pk=driver.pk)
        .filter(Q(last_position_at__isnull=True) | Q(last_position_at__lt=newest.recorded_at))
        .update(
            last_lat=newest.lat,
            last_lon=newest.lon,
            last_heading=newest.heading,
            last_speed_mps=newest.speed_mps,
            last_position_at=newest.recorded_at,
        )
    ) == 1
    if moved:
        payload = {
            "driver_id": driver.pk, "vehicle_id": driver.vehicle_id, "depot_id": driver.depot_id, "lat": newest.lat,
            "lon": newest.lon, "recorded_at": newest.recorded_at, "heading": newest.heading,
            "speed_mps": newest.speed_mps,
        }  # fmt: skip
        if received_at is not None:
            payload["received_at"] = received_at
        follow_up = _followups_due(previous=driver.last_position_at, newest=newest.recorded_at)
        transaction.on_commit(lambda: _announce_move(payload, follow_up=follow_up))
    metrics.positions_accepted(len(rows))
    return PositionsRecorded(accepted=len(rows), moved=moved, latest_recorded_at=newest.recorded_at)


def _followups_due(*, previous: datetime | None, newest: datetime) -> bool:
    """Whether a move is handed to the listeners beyond the dashboards: at most once per driver in each
    LIVE_FOLLOWUP_EVERY_S slice of the phone's clock (the lean intake's rate, dispatch.live.position_fanout).

    Decided from the driver's own previous position, not from a timer of this process: a phone posting
    every second is followed up every fifth post, one posting every five seconds or more at every post,
    the first position of a day always. The cost: the newest position of a driver who stops posting
    inside a slice is not followed up (live ETAs and idle alerts go by one a few seconds older).
    """
    every = settings.LIVE_FOLLOWUP_EVERY_S
    if not every or previous is None or newest < previous:
        return True
    return int(newest.timestamp() // every) != int(previous.timestamp() // every)


def _announce_move(payload: dict, *, follow_up: bool) -> None:
    """After commit: the dashboards at once (dispatch.live.broadcast coalesces to one broadcast per driver and
    second); the other listeners of the move (live ETAs, idle alerts, the customer's tracking socket)
    in a task on the "live" queue, as the lean intake hands them over (dispatch.live.position_fanout).

    So a phone's POST never waits for a live-ETA recompute or its notifications: in the embedded mode
    (every position comes through here) they ran in the request and held the request's thread and
    SQLite's write lock; each listener coalesces on its own too (live ETAs every LIVE_ETA_EVERY_S).
    """

    live.driver_moved(**payload)
    if follow_up:
        moments = {key: payload[key].isoformat() for key in ("recorded_at", "received_at") if key in payload}
        enqueue("dispatch.tasks.drivers_moved_followups", [{**payload, **moments}])


def driver_positions_prune(*, now: datetime | None = None, retention_days: int | None = None) -> int:
    """Delete positions recorded before the retention period; returns how many went.

    Deletes in chunks, each its own short transaction, so a large backlog never holds one long lock
    on a table that every driver's phone writes to. Driver.last_* is kept (it is the live state).
    """
    days = settings.POSITION_RETENTION_DAYS if retention_days is None else retention_days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = 0
    while True:  # bounded: every pass deletes rows or stops
        chunk = list(DriverPosition.objects.filter(recorded_at__lt=cutoff).values_list("id", flat=True)[:_PRUNE_CHUNK])
        if not chunk:
            return deleted
        with transaction.atomic():
            deleted += DriverPosition.objects.filter(id__in=chunk).delete()[0]
