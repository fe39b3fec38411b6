"""The embedded mode keeps a proposal's deadline as a timer in its process, lost on a restart; there is
no beat there either. When its workers start again (with the process's first job) they expire the
proposals past their deadline and arm the others' timers again (issue 14). Production keeps its timers
in the broker, and beat sweeps every minute (test_replan_guard_rails)."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from config import tasks as config_tasks
from config.tasks import enqueue
from dispatch.models import Alert
from routes.models import Plan
from routes.plans.tasks import expire_replan_proposal

pytestmark = pytest.mark.django_db(transaction=True)  # the workers are threads with connections of their own


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}")
        time.sleep(0.1)


def proposal(running: Plan, version: int, decide_by) -> Plan:
    return Plan.objects.create(
        date=running.date, depot=running.depot, version=version, parent=running, status=Plan.Status.DONE,
        state=Plan.State.PROPOSED, decide_by=decide_by, reason="closure 1 v1 change: road closed (gas leak): keep",
        proposal={"moved_count": 1, "held_because": ["1 stop(s) moved to another vehicle"]},
    )  # fmt: skip


@pytest.fixture
def restarted(settings, monkeypatch):
    """The embedded mode in a process whose workers have not started yet (as after a restart)."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        # The test's polling reads and the worker thread's writes share SQLite's in-memory cache, whose
        # table locks fail at once ("database table is locked") instead of waiting as the embedded
        # mode's file does. The same worker threads run here on PostgreSQL (make test-production).
        pytest.skip("worker threads and the test on SQLite in memory lock each other's tables")
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.TASKS_RUN_INLINE = False
    monkeypatch.setitem(config_tasks._embedded_started, "done", False)


def test_the_embedded_workers_expire_what_a_restart_left_proposed_and_rearm_the_other_timers(restarted, depot_a):
    now = timezone.now()
    running = Plan.objects.create(
        date=timezone.localdate(), depot=depot_a, version=1, status=Plan.Status.DONE, dispatched_at=now
    )
    overdue = proposal(running, 2, now - timedelta(minutes=3))  # its timer went with the old process
    # Far enough ahead that starting the workers and their sweep never reaches it on a busy machine.
    waiting = proposal(running, 3, now + timedelta(seconds=15))
    assert Plan.objects.filter(state=Plan.State.PROPOSED).count() == 2

    enqueue(expire_replan_proposal, 0)  # any first job starts the workers (a plan id that is not there)

    wait_for(lambda: Plan.objects.get(pk=overdue.pk).state == Plan.State.EXPIRED, 20, "the overdue proposal")
    assert Plan.objects.get(pk=waiting.pk).state == Plan.State.PROPOSED  # not before its deadline
    alert = Alert.objects.get(dedup_key=f"replan:{overdue.pk}", resolved_at__isnull=True)
    assert alert.kind == Alert.Kind.REPLAN_PROPOSAL and "expired" in alert.message
    # Its timer armed again: it expires at its deadline, with no beat and no request.
    wait_for(lambda: Plan.objects.get(pk=waiting.pk).state == Plan.State.EXPIRED, 45, "the waiting proposal")
    assert Plan.objects.get(pk=waiting.pk).decided_at >= waiting.decide_by
    # Once per process: the next jobs start nothing more.
    assert config_tasks._embedded_started["done"]
