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

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

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

PLAN_TASKS = {"routes.tasks.optimize_plan", "routes.tasks.replan_plan"}
NOTIFICATION_TASK = "customers.tasks.send_notification"
CLOSURE_TASK = "routes.tasks.closure_changed"


def _safely(function):
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


@_safely
def positions_accepted(count: int, *, path: str = "view") -> None:
    POSITIONS_ACCEPTED.labels(path=path).inc(count)


@_safely
def websocket_opened(group: str) -> None:
    WEBSOCKET_CONNECTIONS.labels(group=group).inc()


@_safely
def websocket_closed(group: str) -> None:
    WEBSOCKET_CONNECTIONS.labels(group=group).dec()


# plan id -> (stage, monotonic start, thread): one thread computes a plan from start to end (its task).
_plan_stages: dict[int, tuple[str, float, int]] = {}
_plan_stages_lock = threading.Lock()


@_safely
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


@_safely
def on_order_status_changed(*, order_id, from_status="", to_status, at=None, **_payload) -> None:
    """dispatch.events handler: the ETA error of a stop, at the driver's arrival (or at delivery or
    failure when the driver never tapped "arrived")."""
    if at is None or to_status not in ("arrived", "delivered", "failed") or from_status == "arrived":
        return
    from routes.models import Plan, Stop

    stop = (
        Stop.objects.filter(order_id=order_id, route__plan__status=Plan.Status.DONE)
        .exclude(route__plan__dispatched_at=None)
        .order_by("-route__plan__dispatched_at")
        .values("eta", "live_eta")
        .first()
    )
    if stop is None:
        return
    ETA_ERROR_SECONDS.labels(eta="planned").observe(abs((at - stop["eta"]).total_seconds()))
    if stop["live_eta"] is not None:
        ETA_ERROR_SECONDS.labels(eta="live").observe(abs((at - stop["live_eta"]).total_seconds()))


# --- Celery: every task, and what some of them tell -------------------------------------------

_task_started: dict[str, float] = {}


def _on_task_prerun(task_id=None, **_kwargs) -> None:
    if task_id:
        _task_started[task_id] = time.monotonic()


@_safely
def _on_task_postrun(task_id=None, task=None, args=None, kwargs=None, retval=None, state=None, **_kw) -> None:
    started = _task_started.pop(task_id, None) if task_id else None
    name = getattr(task, "name", "?")
    if started is not None:
        TASK_SECONDS.labels(task=name).observe(time.monotonic() - started)
    TASKS.labels(task=name, state=state or "?").inc()
    args = list(args or [])
    if name in PLAN_TASKS or name == CLOSURE_TASK:
        _plan_stages_end_in_this_thread()
    if name == NOTIFICATION_TASK and args and isinstance(retval, str):
        _count_notification(args[0], retval)
    elif name == CLOSURE_TASK and len(args) >= 2:
        _count_closure_replans(*args[:3])


@_safely
def _count_notification(notification_id: int, outcome: str) -> None:
    from customers.models import Notification

    channel = Notification.objects.filter(pk=notification_id).values_list("channel", flat=True).first()
    NOTIFICATIONS.labels(channel=channel or "?", outcome=outcome).inc()


@_safely
def _count_closure_replans(closure_id: int, version: int, phase: str = "change") -> None:
    from routes.models import ClosureApplication

    application = ClosureApplication.objects.filter(closure_id=closure_id, version=version, phase=phase).first()
    if application is None or application.status != ClosureApplication.Status.DONE:
        return
    count = len(application.new_plans or [])
    REPLANS_PER_CLOSURE_CHANGE.observe(count)
    CLOSURE_REPLANS.inc(count)


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


class StateCollector:
    """Queues and closures as they stand now, read from Redis / the embedded workers / the database."""

    def collect(self):
        yield from self._queues()
        yield from self._closures()

    def _queues(self):
        from config.tasks import queue_stats

        waiting = GaugeMetricFamily("dispatch_queue_waiting", "Tasks waiting in a queue", labels=["kind", "queue"])
        age = GaugeMetricFamily(
            "dispatch_queue_oldest_age_seconds",
            "Age of the oldest waiting task (0: none waits)",
            labels=["kind", "queue"],
        )
        coalesced = CounterMetricFamily(
            "dispatch_queue_coalesced", "Live jobs folded into one already waiting", labels=["kind", "queue"]
        )
        dropped = CounterMetricFamily(
            "dispatch_queue_dropped", "Live jobs dropped past TASK_LIVE_BACKLOG_MAX", labels=["kind", "queue"]
        )
        up = GaugeMetricFamily("dispatch_queue_stats_up", "1 when the queues could be read")
        try:
            stats = queue_stats()
        except Exception:  # noqa: BLE001 - the scrape still answers; the gauge says the queues were unreadable
            logger.warning("metrics: could not read the queues", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for kind, entry in stats.items():
            labels = [kind, entry["queue"]]
            waiting.add_metric(labels, entry["waiting"])
            age.add_metric(labels, entry["oldest_age_s"] or 0)
            coalesced.add_metric(labels, entry.get("coalesced", 0))
            dropped.add_metric(labels, entry.get("dropped", 0))
        yield from (up, waiting, age, coalesced, dropped)
        yield from self._embedded_workers()

    def _embedded_workers(self):
        from django.conf import settings

        if not settings.CELERY_TASK_ALWAYS_EAGER or settings.TASKS_RUN_INLINE:
            return
        from config.tasks import _embedded_queues

        busy = GaugeMetricFamily(
            "dispatch_embedded_worker_busy",
            "1 while the embedded worker thread of a queue runs a task",
            labels=["queue"],
        )
        alive = GaugeMetricFamily("dispatch_embedded_worker_alive", "1 while the thread is alive", labels=["queue"])
        for name, queue in list(_embedded_queues.items()):
            busy.add_metric([name], 1 if queue.running is not None else 0)
            thread = queue._thread
            alive.add_metric([name], 1 if thread is not None and thread.is_alive() else 0)
        yield from (busy, alive)

    def _closures(self):
        from django.db.models import Q
        from django.utils import timezone

        from routes.models import ClosureApplication

        replans = GaugeMetricFamily(
            "dispatch_closure_replans_in_force",
            "Plans re-planned so far for each closure in force (or lifted in the last day)",
            labels=["closure"],
        )
        try:
            since = timezone.now() - timezone.timedelta(days=1)
            rows = ClosureApplication.objects.filter(
                Q(closure__lifted_at=None) | Q(closure__lifted_at__gte=since), status=ClosureApplication.Status.DONE
            ).values_list("closure_id", "new_plans")
            totals: dict[int, int] = {}
            for closure_id, new_plans in rows:
                totals[closure_id] = totals.get(closure_id, 0) + len(new_plans or [])
        except Exception:  # noqa: BLE001 - a database outage shows on /healthz; the scrape still answers
            logger.warning("metrics: could not read the closures", exc_info=True)
            return
        for closure_id, total in sorted(totals.items()):
            replans.add_metric([str(closure_id)], total)
        yield replans


def scrape() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROC_DIR:
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)
    registry.register(StateCollector())
    return generate_latest(registry)


def may_scrape(request) -> bool:
    from django.conf import settings

    from config.access import staff_or_bearer

    return staff_or_bearer(request, settings.METRICS_TOKEN)


def metrics_view(request):
    from django.http import HttpResponse, JsonResponse

    if request.method != "GET":
        return JsonResponse({"detail": "GET only."}, status=405)
    if not may_scrape(request):
        response = JsonResponse(
            {"detail": "Metrics are for staff users or the monitoring token (METRICS_TOKEN)."}, status=401
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
