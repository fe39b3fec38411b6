"""A real Celery worker process for the tests that need one (Redis broker, the test database)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

from config.celery import app as celery_app
from dispatch import events

ROOT = Path(__file__).resolve().parent.parent


def queue_env(queue: str) -> dict[str, str]:
    """A worker process's environment sending every kind of work it enqueues itself (a plan's
    messages, a retry) to `queue` too, where the test's worker takes it."""
    return {
        name: queue for name in ("CELERY_QUEUE", "CELERY_PLANS_QUEUE", "CELERY_LIVE_QUEUE", "CELERY_NOTIFICATION_QUEUE")
    }


def start_worker(queue: str, tmp_path: Path, faults: str = "", *, env: dict | None = None) -> subprocess.Popen:
    """A worker consuming `queue`; `env` overrides its environment last (e.g. a queue per kind)."""
    db = connection.settings_dict
    environment = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        **queue_env(queue),
        "CELERY_VISIBILITY_TIMEOUT_S": "10",
        "REPLAN_LOCK_HOLD_S": "8",  # the killed task's lock must not outlive the test
        "VAR_DIR": str(tmp_path),
        "FAULT_PAUSES": faults,
        "FAULT_MARKER_DIR": str(tmp_path),
        **(env or {}),
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "-c", "1", "--pool", "prefork",
               "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"]  # fmt: skip
    return subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=open(tmp_path / "worker.log", "ab"), stderr=subprocess.STDOUT
    )


def stop_worker(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def worker_children(worker: subprocess.Popen) -> list[int]:
    output = subprocess.run(["ps", "-o", "pid=", "--ppid", str(worker.pid)], capture_output=True, text=True).stdout
    return [int(pid) for pid in output.split()]


def send_tasks_to(queue: str, settings, monkeypatch, *, handlers: str) -> None:
    """Tasks this process enqueues go to `queue` (a worker's), not run inline; and only the event
    handlers named `handlers`* run, so no other app's task lands on a queue nobody here consumes."""
    settings.CELERY_TASK_DEFAULT_QUEUE = queue  # config.tasks.enqueue names it
    settings.CELERY_WORK_QUEUES = {}  # every kind of work to that one queue
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.TASKS_RUN_INLINE = False
    # The Celery app read its configuration once, maybe while another test had tasks eager.
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    monkeypatch.setattr(
        events,
        "HANDLERS",
        {name: tuple(p for p in paths if p.startswith(handlers)) for name, paths in events.HANDLERS.items()},
    )


def wait_until_ready(worker: subprocess.Popen, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while "ready." not in log.read_text():
        assert worker.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
