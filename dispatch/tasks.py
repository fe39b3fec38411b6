"""Celery tasks of the dispatch app (scheduled by CELERY_BEAT_SCHEDULE in config/settings.py)."""

from celery import shared_task

from dispatch.alerts import check_idle_drivers  # noqa: F401 - a beat task; importing it registers it with the worker
from dispatch.positions import driver_positions_prune


@shared_task(name="dispatch.tasks.prune_driver_positions")
def prune_driver_positions() -> int:
    # Idempotent: it deletes what is older than the retention period; a second run finds less or nothing.
    return driver_positions_prune()
