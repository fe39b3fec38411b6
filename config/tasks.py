"""Enqueueing Celery tasks the same way in every mode.

With a broker (REDIS_URL) a task goes to the workers. In the embedded mode there is no worker:
the task runs in this process, on a background thread so that a request answers at once (a plan
is "queued", then "running", exactly as in production). Tests set TASKS_RUN_INLINE to run it
synchronously. Always call after the transaction commits (transaction.on_commit), so a rolled-back
request never starts a task.
"""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

logger = logging.getLogger(__name__)
# One thread: embedded mode runs tasks one after another, like a single worker would.
_embedded_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-task")


def _run_embedded(task, args, kwargs):
    close_old_connections()
    try:
        task.apply(args=args, kwargs=kwargs)
    except Exception:  # noqa: BLE001 - a background task must not kill the thread
        logger.exception("embedded task %s failed", task.name)
    finally:
        connections.close_all()


def queue_for(task) -> str:
    """The queue a task goes to: its app's own queue when one is configured (CELERY_APP_QUEUES), so
    that e.g. hundreds of customer messages never hold up a re-plan; else the default queue. Read
    at each call, not cached by Celery, so a deployment (or a test) can name its own."""
    app_label = task.name.split(".", 1)[0]
    return settings.CELERY_APP_QUEUES.get(app_label) or settings.CELERY_TASK_DEFAULT_QUEUE


def enqueue(task, *args, eta: datetime | None = None, **kwargs) -> None:
    """Start `task` now, or at `eta` (an aware datetime) when given."""
    delay_s = max(0.0, (eta - timezone.now()).total_seconds()) if eta else 0.0
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        task.apply_async(args=args, kwargs=kwargs, eta=eta if delay_s else None, queue=queue_for(task))
    elif settings.TASKS_RUN_INLINE:
        if not delay_s:  # tests run what is due now; a scheduled run is the test's own business
            task.apply(args=args, kwargs=kwargs)
    elif delay_s:
        # Embedded mode has no beat or broker to hold it: a timer in this process (lost on restart).
        timer = threading.Timer(delay_s, _embedded_worker.submit, args=(_run_embedded, task, args, kwargs))
        timer.daemon = True
        timer.start()
    else:
        _embedded_worker.submit(_run_embedded, task, args, kwargs)
