"""Celery tasks of live operations (scheduled by CELERY_BEAT_SCHEDULE in config/settings.py). The live
ETA refresh and the idle-driver sweep live beside the code they run; importing them here registers them."""

from celery import shared_task
from django.utils.dateparse import parse_datetime

from dispatch import events
from dispatch.live.alerts import (
    check_idle_drivers,  # noqa: F401 - a beat task; importing it registers it with the worker
)
from dispatch.live.eta import refresh_live_etas  # noqa: F401 - registered with the worker
from dispatch.live.positions import driver_positions_prune


@shared_task(name="dispatch.tasks.prune_driver_positions")
def prune_driver_positions() -> int:
    # Idempotent: it deletes what is older than the retention period; a second run finds less or nothing.
    return driver_positions_prune()


@shared_task(name="dispatch.tasks.drivers_moved_followups", ignore_result=True)
def drivers_moved_followups(payloads: list[dict]) -> None:
    """The listeners of driver_moved (live ETAs, idle alerts, tracking sockets) for a batch of drivers
    from the lean position intake. Each listener coalesces and overwrites, so a retry is harmless."""
    for payload in payloads:
        moments = {key: parse_datetime(payload[key]) for key in ("recorded_at", "received_at") if payload.get(key)}
        events.driver_moved_followups(**{**payload, **moments})
