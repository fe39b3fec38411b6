"""Each event's messages sent exactly once through a REAL Celery worker, with a forced retry.

Runs only with REDIS_URL set and PostgreSQL (the worker is another process and must see the test
database). The worker consumes a queue of its own (a random name), so it never takes another
test run's tasks nor leaves its own for anyone else. SMS fail on their first attempt
(tests.customers.flaky_backends), so every SMS is retried once; e-mails land as files.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection
from django.utils import timezone

from customers.models import Notification, PromisedWindow
from customers.notifications import tasks
from dispatch import events
from dispatch.models import Order
from dispatch.orders.services import order_change_status
from tests.celery_workers import queue_env, send_tasks_to, wait_until_ready

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
S = Order.Status


def _skip_unless_real_services():
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL (a real broker)")
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (the worker process must see the test database)")


@pytest.fixture
def worker(tmp_path, settings, monkeypatch):
    _skip_unless_real_services()
    queue = f"customers-test-{uuid.uuid4().hex[:10]}"
    parts = urlsplit(os.environ["DATABASE_URL"])
    database_url = urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        **queue_env(queue),  # the messages it enqueues itself come back to it
        "VAR_DIR": str(tmp_path),  # e-mails are written to VAR_DIR/mail
        "SMS_BACKEND": "tests.customers.flaky_backends.FailFirstAttemptSmsBackend",
        "NOTIFICATION_RETRY_DELAYS_S": "1",
        "PUBLIC_BASE_URL": "https://track.example.com",
        "DB_CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("EMAIL_HOST", None)
    log = open(tmp_path / "worker.log", "w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "--pool=solo",
            "--concurrency=1", "-n", f"{queue}@%h", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--loglevel=INFO",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    send_tasks_to(queue, settings, monkeypatch, handlers="customers.")
    wait_until_ready(process, tmp_path / "worker.log")
    yield {"queue": queue, "mail_dir": tmp_path / "mail", "log": tmp_path / "worker.log"}
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def wait_for(predicate, worker, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, worker["log"].read_text()[-4000:]
        time.sleep(0.25)


def written_emails(mail_dir):
    """The Message-ID of every e-mail the file backend wrote.

    Count messages, not files: Django's file backend names a file after the second and the id() of
    the backend object, and appends to it, so two connections opened in the same second can reuse a
    freed object's id and share one file (CI saw 7 files for 8 e-mails).
    """
    return [
        line
        for path in mail_dir.glob("*.log")
        for line in path.read_text().splitlines()
        if line.lower().startswith("message-id:")
    ]


def settled():
    """Every expected row written and none still pending, held or being sent."""
    return not Notification.objects.filter(status__in=["pending", "sending", "held"]).exists()


def emit(django_capture_on_commit_callbacks, event, **payload):
    with django_capture_on_commit_callbacks(execute=True):
        getattr(events, event)(**payload)


def change(django_capture_on_commit_callbacks, order, to_status, **kwargs):
    with django_capture_on_commit_callbacks(execute=True):
        order_change_status(order=Order.objects.get(pk=order.pk), to_status=to_status, **kwargs)


def test_it_sends_each_event_exactly_once_through_a_real_worker_with_retries(
    worker, day_route, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    first, second, third = day_route["orders"]
    plan_id = day_route["plan"].pk

    # scheduled, announced twice (a repeated event)
    emit(capture, "plan_dispatched", plan_id=plan_id, previous_plan_id=None, reason="optimized")
    emit(capture, "plan_dispatched", plan_id=plan_id, previous_plan_id=None, reason="optimized")
    wait_for(lambda: Notification.objects.filter(event="scheduled", status="sent").count() == 4, worker)

    # delayed, announced twice
    late = PromisedWindow.objects.get(order=first).end + timezone.timedelta(minutes=45)
    emit(capture, "eta_changed", order_id=first.pk, depot_id=first.depot_id, eta=late)
    emit(capture, "eta_changed", order_id=first.pk, depot_id=first.depot_id, eta=late)
    wait_for(lambda: Notification.objects.filter(event="delayed", status="sent").count() == 2, worker)

    # arriving soon for the first, out for delivery for the others
    change(capture, first, S.EN_ROUTE)
    wait_for(lambda: Notification.objects.filter(event__in=["arriving_soon", "out_for_delivery"]).count() == 4, worker)
    wait_for(settled, worker)
    # delivered, then the second one fails
    change(capture, first, S.ARRIVED)
    change(capture, first, S.DELIVERED)
    wait_for(lambda: Notification.objects.filter(event="delivered").count() == 2, worker)
    wait_for(settled, worker)
    change(capture, second, S.FAILED, reason="not_home")
    wait_for(lambda: Notification.objects.filter(event="failed").count() == 1, worker)
    wait_for(settled, worker)

    # A redelivered or duplicated task for every row: nothing is sent again.
    for pk in Notification.objects.values_list("pk", flat=True):
        tasks.send_notification.apply_async((pk,), queue=worker["queue"])
    time.sleep(2)
    wait_for(settled, worker)

    rows = list(Notification.objects.order_by("order_id", "event", "channel"))
    keys = [(n.order_id, n.event, n.channel) for n in rows]
    assert len(keys) == len(set(keys))
    assert {n.status for n in rows} == {"sent"}, [(n.event, n.channel, n.status, n.status_reason) for n in rows]
    assert {e for _o, e, _c in keys} == {
        "scheduled",
        "delayed",
        "arriving_soon",
        "out_for_delivery",
        "delivered",
        "failed",
    }
    # Every SMS failed once and went out on the retry; e-mails went out first time.
    assert {n.attempts for n in rows if n.channel == "sms"} == {2}
    assert {n.attempts for n in rows if n.channel == "email"} == {1}
    # As many e-mails written as e-mail rows: nothing was sent twice.
    assert len(written_emails(worker["mail_dir"])) == sum(1 for n in rows if n.channel == "email")
    assert third.pk in {n.order_id for n in rows}
