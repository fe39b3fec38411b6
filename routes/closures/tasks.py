"""Celery tasks of road closures: a closure drawn, changed or lifted re-plans the day's dispatched plans."""

from __future__ import annotations

from celery import shared_task

from config import metrics
from routes.closures.replanning import closure_apply
from routes.models import ClosureApplication


@shared_task(name="routes.tasks.closure_changed",
    acks_late=True, reject_on_worker_lost=True, autoretry_for=(Exception,), retry_backoff=2, retry_backoff_max=60,
    max_retries=5,
)  # fmt: skip
def closure_changed(closure_id: int, version: int, phase: str = "change") -> None:
    """Re-plan the day's running routes a closure state affects; idempotent on (closure, version, phase).

    A worker killed half-way leaves the previous plans intact (each re-plan is saved atomically) and
    the redelivered task (acks_late) finishes the job, reusing the re-plans it had started.
    """

    closure_apply(closure_id=closure_id, version=version, phase=phase)


@metrics.safely
def count_closure_replans(args, _retval) -> None:
    """After closure_changed (config.metrics.TASK_OUTCOME_COUNTERS): the plans its change re-planned."""
    if len(args) < 2:
        return
    closure_id, version, phase = (list(args) + ["change"])[:3]
    application = ClosureApplication.objects.filter(closure_id=closure_id, version=version, phase=phase).first()
    if application is None or application.status != ClosureApplication.Status.DONE:
        return
    count = len(application.new_plans or [])
    metrics.REPLANS_PER_CLOSURE_CHANGE.observe(count)
    metrics.CLOSURE_REPLANS.inc(count)
