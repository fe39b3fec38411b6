"""Every Celery task in the project is known to a worker, which imports only each app's tasks module.

A task defined elsewhere and not imported there is enqueued by the web processes and discarded by
the worker as unregistered (found by benchmarks/load.py: the live-ETA refresh was).
"""

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

from config.celery import app

ROOT = Path(__file__).resolve().parent.parent
APPS = ("config", "dispatch", "routes", "customers", "analytics")


def _project_tasks() -> set[str]:
    for package in APPS:
        for module in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            if ".migrations" in module.name or ".management" in module.name or module.name == "config.wsgi":
                continue
            importlib.import_module(module.name)
    # Tasks a test defines for itself (tests.*) are not the project's: no worker needs them.
    return {name for name in app.tasks if not name.startswith(("celery.", "tests."))}


def test_a_worker_registers_every_task_the_project_defines():
    worker_side = subprocess.run(
        [
            sys.executable, "-c",
            "import json, django; django.setup(); from config.celery import app; "
            "app.loader.import_default_modules(); print(json.dumps(sorted(app.tasks)))",
        ],
        cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
    )  # fmt: skip
    registered = set(json.loads(worker_side.stdout.strip().splitlines()[-1]))
    defined = _project_tasks()
    assert "routes.live_eta.refresh_live_etas" in defined
    assert defined - registered == set()


def test_beat_and_direct_calls_follow_the_same_queues_as_enqueue(settings):
    """A task sent by beat (or .delay()) goes to its kind's queue: an idle-driver check to "live", a
    closure re-plan to "plans", the nightly analytics to the default queue."""
    settings.CELERY_WORK_QUEUES = {"plans": "p", "live": "l", "notifications": "n", "default": "d"}
    route = app.amqp.router.route
    assert route({}, "dispatch.alerts.check_idle_drivers")["queue"].name == "l"
    assert route({}, "routes.tasks.closure_changed")["queue"].name == "p"
    assert route({}, "customers.tasks.send_notification")["queue"].name == "n"
    assert route({}, "analytics.tasks.daily_summary")["queue"].name == "d"
    assert route({"queue": "chosen"}, "routes.tasks.closure_changed")["queue"].name == "chosen"


def test_a_web_process_finds_a_task_by_its_name_before_anything_imported_its_module():
    """A service enqueues some tasks by name (config.tasks.enqueue("dispatch.tasks...")), so that the
    import points one way; in a process that never imported the task's module (daphne serving the
    phones' positions) the name must still resolve, as it does in a worker."""
    web_side = subprocess.run(
        [
            sys.executable, "-c",
            "import django; django.setup(); from celery import current_app; "
            "name = 'dispatch.tasks.drivers_moved_followups'; before = name in current_app.tasks; "
            "from config.tasks import task_named; print(before, task_named(name).name)",
        ],
        cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
    )  # fmt: skip
    assert web_side.stdout.split() == ["False", "dispatch.tasks.drivers_moved_followups"]
