"""Enqueueing Celery tasks the same way in every mode, each kind of work on a queue of its own.

Every task has a kind (settings.TASK_KINDS: plans, live, notifications, default) and each kind its
queue (settings.CELERY_WORK_QUEUES), so that a flood of one kind never holds up another: a plan
never waits behind a thousand live-ETA messages.

With a broker (REDIS_URL) a task goes to the workers of its queue. In the embedded mode there is no
worker: each queue has a thread of its own in this process (_EmbeddedQueue), so a request answers
at once (a plan is "queued", then "running", exactly as in production) and a busy queue never
blocks another. Tests set TASKS_RUN_INLINE to run tasks synchronously. Always call after the
transaction commits (transaction.on_commit), so a rolled-back request never starts a task.

A task marked `latest_only=True` (@shared_task option) only matters with its newest arguments, per
first argument (an order's ETA message, a driver's ETA refresh) or per its first `latest_key_args` (a
day and a depot's facts): while one is waiting, a newer call replaces its arguments instead of
queueing another (run_latest). The "live" queue is bounded
(TASK_LIVE_BACKLOG_MAX): past it the oldest waiting jobs are dropped, logged and counted.
"""

import base64
import json
import logging
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from celery import current_app, shared_task
from celery.signals import before_task_publish
from django.conf import settings
from django.db import connections
from django.utils import timezone

from config import metrics as _metrics  # noqa: F401 - connects the task metrics in every process that runs tasks
from config import request_id

logger = logging.getLogger(__name__)

LIVE = "live"
ENQUEUED_AT_HEADER = "enqueued_at"  # epoch seconds, stamped on every message (queue ages on /healthz)


# --- routing ----------------------------------------------------------------------------------


def kind_of(task_name: str) -> str:
    return settings.TASK_KINDS.get(task_name, "default")


def queue_of_kind(kind: str) -> str:
    return settings.CELERY_WORK_QUEUES.get(kind) or settings.CELERY_TASK_DEFAULT_QUEUE


def queue_for(task) -> str:
    """The queue of a task's kind. Read at each call, not cached by Celery, so a deployment (or a
    test) can name its own."""
    return queue_of_kind(kind_of(task.name))


def route_task(name, args, kwargs, options, task=None, **_kw):
    """Celery router (CELERY_TASK_ROUTES): beat's periodic tasks follow the same map as enqueue()."""
    return {"queue": queue_of_kind(kind_of(name))}


def work_queues() -> dict[str, str]:
    """kind -> queue name, for every kind (two kinds may share a queue)."""
    return {kind: queue_of_kind(kind) for kind in settings.CELERY_WORK_QUEUES}


def _bounded(queue: str) -> bool:
    """Only a queue of live work alone is bounded: dropping from a queue shared with plans or
    customer messages (a deployment that gives "live" no queue of its own) would lose real work."""
    kinds = {kind for kind in [*settings.CELERY_WORK_QUEUES, "default"] if queue_of_kind(kind) == queue}
    return kinds == {LIVE}


@before_task_publish.connect
def _stamp_enqueued_at(headers=None, **_kwargs):
    # Every message, beat's and retries' too, says when it was queued: the age of a queue's oldest
    # waiting message is read from the broker (queue_stats) without any bookkeeping of ours.
    if headers is not None:
        headers.setdefault(ENQUEUED_AT_HEADER, time.time())


# --- what the queues share: marks, latest arguments, counters --------------------------------------
# Kept beside the queues themselves: in the broker's Redis with a broker (every process that queues
# or runs a task sees the same keys, whatever its cache settings), in this process without one.


class _LocalStore:
    """The embedded mode: one process, so a dict does (lost on a restart, with the queues)."""

    def __init__(self):
        self._data: dict = {}
        self._lock = threading.Lock()

    def set(self, key: str, value, ttl_s: int) -> None:
        with self._lock:
            self._data[key] = value

    def add(self, key: str, ttl_s: int) -> bool:
        with self._lock:
            if key in self._data:
                return False
            self._data[key] = 1
            return True

    def get(self, key: str):
        with self._lock:
            return self._data.get(key)

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def incr(self, key: str, by: int) -> None:
        with self._lock:
            self._data[key] = self._data.get(key, 0) + by

    def take(self, latest_key: str, pending_key: str):
        with self._lock:
            self._data.pop(pending_key, None)
            return self._data.pop(latest_key, None)


class _RedisStore:
    def set(self, key: str, value, ttl_s: int) -> None:
        _broker().set(key, json.dumps(value), ex=ttl_s)

    def add(self, key: str, ttl_s: int) -> bool:
        return bool(_broker().set(key, 1, nx=True, ex=ttl_s))

    def get(self, key: str):
        raw = _broker().get(key)
        return json.loads(raw) if raw is not None else None

    def delete(self, *keys: str) -> None:
        if keys:
            _broker().delete(*keys)

    def incr(self, key: str, by: int) -> None:
        _broker().incrby(key, by)

    def take(self, latest_key: str, pending_key: str):
        with _broker().pipeline(transaction=True) as pipe:  # MULTI: no call slips in between
            raw, _deleted, _unmarked = pipe.get(latest_key).delete(latest_key).delete(pending_key).execute()
        return json.loads(raw) if raw is not None else None


_local_store = _LocalStore()
_redis_store = _RedisStore()


def _store():
    if not settings.CELERY_TASK_ALWAYS_EAGER and settings.CELERY_BROKER_URL.startswith("redis"):
        return _redis_store
    return _local_store


def _count(what: str, queue: str, by: int = 1) -> None:
    try:
        _store().incr(f"tasks:{what}:{queue}", by)
    except Exception:  # noqa: BLE001 - a counter must never stop a task from being queued
        logger.debug("could not count %s on %s", what, queue, exc_info=True)


def counters(queue: str) -> dict[str, int]:
    store = _store()
    return {what: int(store.get(f"tasks:{what}:{queue}") or 0) for what in ("coalesced", "dropped")}


# --- the embedded mode: one thread per queue ------------------------------------------------------


def _run_embedded(task, args, kwargs, *, more_waiting=lambda: False):
    # Not close_old_connections(): with CONN_MAX_AGE 0 it would close the connection the last job kept.
    for connection in connections.all(initialized_only=True):
        if connection.errors_occurred:
            connection.close()
    try:
        task.apply(args=args, kwargs=kwargs)
    except Exception:  # noqa: BLE001 - a background task must not kill the thread
        logger.exception("embedded task %s failed", task.name)
    finally:
        # While more jobs wait, the next one reuses this thread's connection: opening one per job (a
        # SQLite file opened, Django's functions registered) was a sixth of the embedded server's CPU
        # under `make simulate` (benchmarks/LIVE.md). Closed at the end of a burst, or when in doubt.
        healthy = all(
            not connection.errors_occurred and not connection.in_atomic_block
            for connection in connections.all(initialized_only=True)
        )
        if not (healthy and more_waiting()):
            connections.close_all()


@dataclass
class _Job:
    task: object
    args: tuple
    kwargs: dict
    enqueued_at: float = field(default_factory=time.time)
    request_id: str | None = field(default_factory=request_id.current)  # the enqueuing request's, for the logs


EMBEDDED_SWITCH_INTERVAL_S = 0.001


def _share_the_interpreter_finely() -> None:
    """The embedded mode's task queues are threads of the web server's (or a simulation's) process.
    A thread back from the database waits for the interpreter lock until the thread holding it lets
    go, by default after up to 5 ms: a request making 30 queries beside a busy task thread could
    wait 150 ms for nothing. 1 ms keeps those waits short (production runs tasks in worker processes)."""
    if sys.getswitchinterval() > EMBEDDED_SWITCH_INTERVAL_S:
        sys.setswitchinterval(EMBEDDED_SWITCH_INTERVAL_S)


class _EmbeddedQueue:
    """A queue's own worker thread in this process: jobs run one after another, like one worker
    process consuming one queue. Its waiting jobs can be inspected (ages, a plan's position)."""

    def __init__(self, name: str):
        self.name = name
        self._jobs: deque[_Job] = deque()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self.running: _Job | None = None

    def submit(self, job: _Job, *, bound: int | None = None) -> list[_Job]:
        """Queue `job`; with `bound`, drop (and return) the oldest waiting jobs beyond it."""
        with self._changed:
            self._jobs.append(job)
            dropped = []
            while bound is not None and len(self._jobs) > bound:
                dropped.append(self._jobs.popleft())
            if self._thread is None or not self._thread.is_alive():
                _share_the_interpreter_finely()
                self._thread = threading.Thread(target=self._work, name=f"embedded-{self.name}", daemon=True)
                self._thread.start()
            self._changed.notify()
        return dropped

    def waiting(self) -> list[_Job]:
        with self._changed:
            return list(self._jobs)

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._jobs:
                    self._changed.wait()
                job = self.running = self._jobs.popleft()
            try:
                with request_id.bound(job.request_id):
                    _run_embedded(job.task, job.args, job.kwargs, more_waiting=self._has_waiting)
            finally:
                self.running = None

    def _has_waiting(self) -> bool:
        with self._changed:
            return bool(self._jobs)


_embedded_queues: dict[str, _EmbeddedQueue] = {}
_embedded_lock = threading.Lock()


def _embedded_queue(name: str) -> _EmbeddedQueue:
    with _embedded_lock:
        if name not in _embedded_queues:
            _embedded_queues[name] = _EmbeddedQueue(name)
        return _embedded_queues[name]


# What the embedded workers run when they start in a process (after its first job): work whose timers
# lived in the previous process, which a broker would have kept across the restart. (task name,
# keyword arguments), each idempotent and quick; on the default queue, so that it never stands in a
# plan's place in line.
EMBEDDED_STARTUP_TASKS = (("routes.tasks.expire_replan_proposals", {"resume_timers": True}),)
_embedded_started = {"done": False}


def _embedded_start() -> None:
    with _embedded_lock:
        if _embedded_started["done"]:
            return
        _embedded_started["done"] = True
    for name, kwargs in EMBEDDED_STARTUP_TASKS:
        task = task_named(name)
        _embedded_queue(queue_of_kind("default")).submit(_Job(task, (), dict(kwargs)))


# --- the broker (production) --------------------------------------------------------------------

_redis = {}

# Atomically: drop the oldest messages (kombu pushes on the left, workers pop on the right) beyond
# ARGV[1], the same RPOP a worker does, so a message is either run or dropped, never both.
_TRIM_OLDEST = """
local excess = redis.call('LLEN', KEYS[1]) - tonumber(ARGV[1])
local dropped = {}
for i = 1, excess do dropped[i] = redis.call('RPOP', KEYS[1]) end
return dropped
"""


def _broker():
    import redis

    url = settings.CELERY_BROKER_URL
    if url not in _redis:
        _redis[url] = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    return _redis[url]


def _decode(raw: bytes) -> tuple[str, list, float | None]:
    """A kombu Redis message: (task name, positional args, enqueued at)."""
    message = json.loads(raw)
    headers = message.get("headers") or {}
    body = message.get("body")
    if message.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args = json.loads(body)[0] if body else []
    return headers.get("task", ""), list(args), headers.get(ENQUEUED_AT_HEADER)


def _release_latest(task_name: str, args: list) -> None:
    """A dropped run_latest frees its key: the next call for that order or driver queues again."""
    if task_name == run_latest.name and len(args) >= 2:
        _store().take(f"tasks:latest:{args[1]}", f"tasks:pending:{args[1]}")


# --- enqueueing ---------------------------------------------------------------------------------


def task_named(name: str):
    """The registered task of that name. A web process imports only the task modules its code imports;
    a task named by a service (below) may live in a module nothing imported yet, so the task packages
    (config.celery.TASK_PACKAGES, as a worker loads them) are imported once on the first miss."""
    if name not in current_app.tasks:
        current_app.loader.import_default_modules()
    return current_app.tasks[name]


def enqueue(task, *args, eta: datetime | None = None, **kwargs) -> None:
    """Start `task` now, or at `eta` (an aware datetime) when given, on its kind's queue.

    `task` is the task, or its name: a service whose own module the task imports (the task runs the
    service) names it, so that the import points one way only (tasks -> services)."""
    if isinstance(task, str):
        task = task_named(task)
    delay_s = max(0.0, (eta - timezone.now()).total_seconds()) if eta else 0.0
    inline = settings.CELERY_TASK_ALWAYS_EAGER and settings.TASKS_RUN_INLINE
    if getattr(task, "latest_only", False) and len(args) >= _key_args(task) and not delay_s and not inline:
        _enqueue_latest(task, args, kwargs)
        return
    _send(task, args, kwargs, queue=queue_for(task), delay_s=delay_s, eta=eta)


def _send(task, args, kwargs, *, queue: str, delay_s: float = 0.0, eta: datetime | None = None) -> None:
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        task.apply_async(args=args, kwargs=kwargs, eta=eta if delay_s else None, queue=queue)
        if not delay_s and _bounded(queue):
            _bound_broker_queue(queue)
    elif settings.TASKS_RUN_INLINE:
        if not delay_s:  # tests run what is due now; a scheduled run is the test's own business
            task.apply(args=args, kwargs=kwargs)
    elif delay_s:
        # Embedded mode has no beat or broker to hold it: a timer in this process (lost on restart),
        # which hands the job to its queue's thread when due.
        timer = threading.Timer(delay_s, _submit_embedded, args=(queue, _Job(task, args, kwargs)))
        timer.daemon = True
        timer.start()
    else:
        _submit_embedded(queue, _Job(task, args, kwargs))


def _submit_embedded(queue: str, job: _Job) -> None:
    bound = settings.TASK_LIVE_BACKLOG_MAX if _bounded(queue) else None
    dropped = _embedded_queue(queue).submit(job, bound=bound)
    for old in dropped:
        _release_latest(old.task.name, list(old.args))
    _report_dropped(queue, [old.task.name for old in dropped])
    _embedded_start()  # after the job that started the workers: it waits for nothing of ours


def _bound_broker_queue(queue: str) -> None:
    try:
        client = _broker()
        if client.llen(queue) <= settings.TASK_LIVE_BACKLOG_MAX:  # the common case: one cheap call
            return
        dropped = client.eval(_TRIM_OLDEST, 1, queue, settings.TASK_LIVE_BACKLOG_MAX)
    except Exception:  # noqa: BLE001 - the task is queued; bounding the backlog can wait for the next one
        logger.warning("could not bound the backlog of queue %s", queue, exc_info=True)
        return
    names = []
    for raw in dropped:
        try:
            name, args, _at = _decode(raw)
        except (ValueError, KeyError, IndexError, TypeError):
            name, args = "?", []
        _release_latest(name, args)
        names.append(name)
    _report_dropped(queue, names)


def _report_dropped(queue: str, names: list[str]) -> None:
    if names:
        _count("dropped", queue, len(names))
        logger.warning(
            "queue %s over %s waiting: dropped the %s oldest (%s)",
            queue, settings.TASK_LIVE_BACKLOG_MAX, len(names), ", ".join(sorted(set(names))),
        )  # fmt: skip


def _key_args(task) -> int:
    # the positional arguments that say what the work is about: the first (an order, a driver), or
    # as many as the task's `latest_key_args` names (a day and a depot); a call passing fewer is
    # queued as it is, never coalesced under a key that would mix it with others
    return getattr(task, "latest_key_args", 1)


def _latest_key(task, args) -> str:
    return f"{task.name}:{':'.join(str(a) for a in args[: _key_args(task)])}"


def _enqueue_latest(task, args, kwargs) -> None:
    key = _latest_key(task, args)
    store = _store()
    store.set(f"tasks:latest:{key}", [list(args), kwargs], 2 * settings.TASK_COALESCE_S)
    # Atomic (SET NX): of two processes calling at once, one queues the job and the other's
    # arguments (set just above) are what that job will run with.
    if not store.add(f"tasks:pending:{key}", settings.TASK_COALESCE_S):
        _count("coalesced", queue_for(task))
        return
    # When the key is all of the call (a day and a depot: nothing newer to replace), the job carries
    # the arguments too: it still runs if the stored ones expired while it waited, or were taken by
    # the run a killed worker never finished (acks_late redelivers the job, not the stored arguments).
    whole = [list(args)] if len(args) == _key_args(task) and not kwargs else []
    _send(run_latest, (task.name, key, *whole), {}, queue=queue_for(task))


@shared_task(name="config.tasks.run_latest", acks_late=True, ignore_result=True)
def run_latest(task_name: str, key: str, whole_args: list | None = None) -> None:
    """Run `task_name` with the latest arguments queued for `key` (see _enqueue_latest)."""
    # Take the arguments and unmark at once: a call arriving after this queues a new job with its
    # own arguments, one before it is what runs here; none is lost, none runs twice.
    latest = _store().take(f"tasks:latest:{key}", f"tasks:pending:{key}")
    if latest is None:
        if whole_args is None:
            return  # dropped, or expired after TASK_COALESCE_S, or taken by a duplicate of this job
        # the call is its key: running it again is the same work (such tasks are idempotent)
        latest = (whole_args, {})
    args, kwargs = latest
    task_named(task_name)(*args, **kwargs)


# --- where work stands (for /healthz?detail=1 and a plan's place in line) ------------------------


def queue_stats() -> dict[str, dict]:
    """Per kind: its queue, how many tasks wait, the age of the oldest, coalesced and dropped counts."""
    now = time.time()
    stats = {}
    for kind, queue in work_queues().items():
        entry = {"queue": queue, "waiting": 0, "oldest_age_s": None, **counters(queue)}
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            if not settings.CELERY_BROKER_URL.startswith("redis"):
                continue  # a broker we cannot look into (not ours to run: production uses Redis)
            client = _broker()
            entry["waiting"] = client.llen(queue)
            oldest = client.lindex(queue, -1)
            enqueued_at = _decode(oldest)[2] if oldest else None
        else:
            waiting = _embedded_queue(queue).waiting()
            entry["waiting"] = len(waiting)
            enqueued_at = waiting[0].enqueued_at if waiting else None
        if enqueued_at is not None:
            entry["oldest_age_s"] = round(max(0.0, now - float(enqueued_at)), 1)
        stats[kind] = entry
    return stats


def tasks_ahead(task_names: set[str], first_arg, *, kind: str) -> int | None:
    """How many tasks wait ahead of the one for `name(first_arg, ...)` in `kind`'s queue (0: it is
    next), or None when none is waiting (it runs, or it ran)."""
    queue = queue_of_kind(kind)
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        # Newest first (kombu pushes on the left): whatever lies to the right of ours is ahead of it.
        messages = _broker().lrange(queue, 0, -1)
        for index, raw in enumerate(messages):
            name, args, _at = _decode(raw)
            if name in task_names and args[:1] == [first_arg]:
                return len(messages) - 1 - index
        return None
    if settings.TASKS_RUN_INLINE:
        return None
    for index, job in enumerate(_embedded_queue(queue).waiting()):
        if job.task.name in task_names and list(job.args[:1]) == [first_arg]:
            return index
    return None
