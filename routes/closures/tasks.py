"""Celery tasks of road closures: a closure drawn, changed or lifted re-plans the day's dispatched plans."""

from celery import shared_task


@shared_task(name="routes.tasks.closure_changed",
    acks_late=True, reject_on_worker_lost=True, autoretry_for=(Exception,), retry_backoff=2, retry_backoff_max=60,
    max_retries=5,
)  # fmt: skip
def closure_changed(closure_id: int, version: int, phase: str = "change") -> None:
    """Re-plan the day's running routes a closure state affects; idempotent on (closure, version, phase).

    A worker killed half-way leaves the previous plans intact (each re-plan is saved atomically) and
    the redelivered task (acks_late) finishes the job, reusing the re-plans it had started.
    """
    from routes.closures.replanning import closure_apply

    closure_apply(closure_id=closure_id, version=version, phase=phase)
