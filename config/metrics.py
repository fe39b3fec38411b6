"""Prometheus metrics: GET /metrics, for the monitoring's bearer token (METRICS_TOKEN) or staff users.

Two kinds of figures, measured where each is true:

* Events, counted in the process where they happen: HTTP requests per view (django-prometheus'
  middleware), WebSocket connections per group, positions accepted, plan stages, Celery tasks,
  notification outcomes per channel, re-plans per closure change, the ETA error of completed stops.
  Production runs several daphne and Celery processes per machine: with PROMETHEUS_MULTIPROC_DIR set
  (an empty directory shared by the processes of one machine, emptied when they start) each process
  writes its samples there and whichever daphne answers the scrape adds them all up (prometheus
  client's multi-process mode). Without it (the embedded mode: one process) they stay in memory.
  A machine that runs Celery workers only serves the same sums on METRICS_WORKER_PORT (started by
  the worker's main process), for a scrape job of its own.
* State, read at scrape time from where it lives once for the whole deployment: the queues' length
  and the age of their oldest task (Redis, or the embedded workers: config.tasks.queue_stats) and the
  re-plans of the closures in force (the database). Counting these per process would add up the
  same Redis list once per process; reading them at scrape time is right on any number of machines.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time

from django.utils.module_loading import import_string
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)

logger = logging.getLogger(__name__)

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")

# --- events (per process) ----------------------------------------------------------------------

WEBSOCKET_CONNECTIONS = Gauge(
    "dispatch_websocket_connections",
    "Open WebSocket connections per group (depot.<id> for dashboards, order for tracking pages)",
    ["group"],
    multiprocess_mode="livesum",
)
POSITIONS_ACCEPTED = Counter("dispatch_positions_accepted", "Driver positions stored", ["path"])
PLAN_STAGE_SECONDS = Histogram(
    "dispatch_plan_stage_seconds",
    "Time a plan spent in each stage of its computation",
    ["stage"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600),
)
TASK_SECONDS = Histogram(
    "dispatch_task_seconds",
    "Run time of background tasks",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
TASKS = Counter("dispatch_tasks", "Background tasks run, by outcome", ["task", "state"])
NOTIFICATIONS = Counter(
    "dispatch_notifications", "Customer notification send attempts, by outcome", ["channel", "outcome"]
)
CLOSURE_REPLANS = Counter("dispatch_closure_replans", "Re-plans created by road closures (applied or proposed)")
REPLANS_PER_CLOSURE_CHANGE = Histogram(
    "dispatch_replans_per_closure_change",
    "Plans re-planned by one change of one road closure (drawn, edited, lifted, started, ended)",
    buckets=(0, 1, 2, 3, 5, 10, 20),
)
ETA_ERROR_SECONDS = Histogram(
    "dispatch_stop_eta_error_seconds",
    "|arrival - ETA| of completed stops: eta=planned (the dispatched plan's) or live (the last live ETA)",
    ["eta"],
    buckets=(30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200),
)

# What some tasks tell, counted after they ran by the layer that owns the rows they touched (by dotted
# path, as dispatch.events does, so that config imports no app): task name -> function(args, retval).
TASK_OUTCOME_COUNTERS = {
    "customers.tasks.send_notification": "customers.notifications.tasks.count_notification_outcome",
    "routes.tasks.closure_changed": "routes.closures.tasks.count_closure_replans",
}
PLAN_TASKS = {"routes.tasks.optimize_plan", "routes.tasks.replan_plan"}
CLOSURE_TASK = "routes.tasks.closure_changed"


def safely(function):
    """A metric must never break the work it measures."""

    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception:  # noqa: BLE001
            logger.debug("metric %s failed", function.__name__, exc_info=True)
            return None

    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper


@safely
def positions_accepted(count: int, *, path: str = "view") -> None:
    POSITIONS_ACCEPTED.labels(path=path).inc(count)


@safely
def websocket_opened(group: str) -> None:
    WEBSOCKET_CONNECTIONS.labels(group=group).inc()


@safely
def websocket_closed(group: str) -> None:
    WEBSOCKET_CONNECTIONS.labels(group=group).dec()


# plan id -> (stage, monotonic start, thread): one thread computes a plan from start to end (its task).
_plan_stages: dict[int, tuple[str, float, int]] = {}
_plan_stages_lock = threading.Lock()


@safely
def plan_stage(plan_id: int, stage: str | None) -> None:
    """`plan_id` entered `stage` (None: it finished): the stage it leaves is observed."""
    now = time.monotonic()
    with _plan_stages_lock:
        previous = _plan_stages.pop(plan_id, None)
        if stage is not None:
            _plan_stages[plan_id] = (stage, now, threading.get_ident())
    if previous is not None:
        PLAN_STAGE_SECONDS.labels(stage=previous[0]).observe(now - previous[1])


def _plan_stages_end_in_this_thread() -> None:
    """A task of plans ended: whatever plan it computed (a closure re-plans in place) is done."""
    me = threading.get_ident()
    with _plan_stages_lock:
        mine = [plan_id for plan_id, (_stage, _start, thread) in _plan_stages.items() if thread == me]
    for plan_id in mine:
        plan_stage(plan_id, None)


# --- Celery: every task, and what some of them tell -------------------------------------------

_task_started: dict[str, float] = {}


def _on_task_prerun(task_id=None, **_kwargs) -> None:
    if task_id:
        _task_started[task_id] = time.monotonic()


@safely
def _on_task_postrun(task_id=None, task=None, args=None, kwargs=None, retval=None, state=None, **_kw) -> None:
    started = _task_started.pop(task_id, None) if task_id else None
    name = getattr(task, "name", "?")
    if started is not None:
        TASK_SECONDS.labels(task=name).observe(time.monotonic() - started)
    TASKS.labels(task=name, state=state or "?").inc()
    args = list(args or [])
    if name in PLAN_TASKS or name == CLOSURE_TASK:
        _plan_stages_end_in_this_thread()
    counter = TASK_OUTCOME_COUNTERS.get(name)
    if counter is not None:
        import_string(counter)(args, retval)


def _on_worker_ready(**_kwargs) -> None:
    """A Celery-only machine: serve this machine's sums on METRICS_WORKER_PORT (network rule only)."""
    port = int(os.environ.get("METRICS_WORKER_PORT") or 0)
    if not port or not MULTIPROC_DIR:
        return
    from prometheus_client import start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(port, addr=os.environ.get("METRICS_WORKER_ADDR", "127.0.0.1"), registry=registry)
    logger.info("worker metrics on port %s", port)


def _connect_celery_signals() -> None:
    from celery.signals import task_postrun, task_prerun, worker_ready

    task_prerun.connect(_on_task_prerun, weak=False, dispatch_uid="metrics-prerun")
    task_postrun.connect(_on_task_postrun, weak=False, dispatch_uid="metrics-postrun")
    worker_ready.connect(_on_worker_ready, weak=False, dispatch_uid="metrics-worker-ready")


_connect_celery_signals()


def _mark_dead() -> None:
    # A live gauge (WebSocket connections) of a process that ended must not count any more.
    if MULTIPROC_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())


atexit.register(_mark_dead)

# --- state (read at scrape time) ----------------------------------------------------------------
