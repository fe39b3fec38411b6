"""Closure re-planning through a real Celery worker and Redis (not eager mode), including a worker
killed half-way. Runs in the PostgreSQL + Redis pass of `make test` (skipped without REDIS_URL)."""

import os
import signal
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from routes.models import ClosureApplication, Plan, RoadNetworkBuild, Stop
from tests.celery_workers import start_worker, stop_worker, wait_for, worker_children

pytestmark = [
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis and PostgreSQL (the production-mode pass)"),
    pytest.mark.django_db(transaction=True),
]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def queue(settings):
    """A queue of this test's own, so no other worker or test takes its tasks."""
    settings.CELERY_TASK_DEFAULT_QUEUE = f"test-closures-{uuid.uuid4().hex[:8]}"
    settings.CELERY_WORK_QUEUES = {}  # closures (the plans kind) too go to the default queue, this one
    return settings.CELERY_TASK_DEFAULT_QUEUE


@pytest.fixture
def dispatched_day(settings, demo_network_dir, dispatcher_a, depot_a, vehicle_a, driver_a):
    """A dispatched plan for today, computed in-process; then tasks go to the worker."""
    from datetime import datetime
    from datetime import time as clock

    from django.utils import timezone

    from dispatch.models import Order, Vehicle
    from routes.plans.services import plan_dispatch
    from routes.plans.tasks import optimize_plan

    RoadNetworkBuild.objects.create(source=str(django_settings.DEMO_PBF), path=str(demo_network_dir), active=True)
    Vehicle.objects.filter(pk=vehicle_a.pk).update(shift_start=clock(0, 5), shift_end=clock(23, 55))
    today = timezone.localdate()
    points = [
        (47.1399, 9.5213),
        (47.1450, 9.5235),
        (47.1352, 9.5190),
        (47.1300, 9.5230),
        (47.1420, 9.5160),
        (47.1475, 9.5180),
    ]
    for number, (lat, lon) in enumerate(points):
        Order.objects.create(reference=f"W{number}", date=today, depot=depot_a, lat=lat, lon=lon, snap_distance_m=10)
    # Planned as on this morning (a simulated clock): a plan for today starts from the moment it is
    # planned, and at the evening hours the suite may run at there would be no shift left to fill.
    morning = timezone.make_aware(datetime.combine(today, clock(6)))
    plan = Plan.objects.create(
        date=today, depot=depot_a, version=1,
        request={"depots": [depot_a.id], "time_budget_s": 1, "clock": morning.isoformat()},
    )  # fmt: skip
    optimize_plan.apply(args=[plan.pk])
    plan.refresh_from_db()
    assert plan.status == "done", plan.error
    settings.CELERY_TASK_ALWAYS_EAGER = False  # from here on, tasks go through Redis to the worker
    return plan_dispatch(plan=plan, by=dispatcher_a)


def close_around_a_stop(plan, by):
    from routes.closures.services import closure_create

    stop = Stop.objects.filter(route__plan=plan).select_related("order").order_by("-sequence").first()
    lat, lon, d = stop.order.lat, stop.order.lon, 0.006
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    return closure_create(geometry={"type": "Polygon", "coordinates": [ring]}, reason="gas leak", by=by), stop


def test_it_replans_through_a_real_worker(dispatched_day, dispatcher_a, queue, tmp_path):
    worker = start_worker(queue, tmp_path)
    try:
        closure, stop = close_around_a_stop(dispatched_day, dispatcher_a)
        application = wait_for(
            lambda: ClosureApplication.objects.filter(closure=closure, status="done").first(),
            90,
            "the worker's re-plan",
        )
        [new_id] = application.new_plans
        assert Plan.objects.get(pk=new_id).unassigned.filter(order=stop.order, code="closed_road").exists()
    finally:
        stop_worker(worker)


def test_it_finishes_the_job_after_the_worker_is_killed_half_way(dispatched_day, dispatcher_a, queue, tmp_path):
    before = list(Stop.objects.filter(route__plan=dispatched_day).values_list("order_id", "sequence", "eta"))
    worker = start_worker(queue, tmp_path, faults="closure.after_placeholder=60")
    try:
        closure, _ = close_around_a_stop(dispatched_day, dispatcher_a)
        wait_for(lambda: (tmp_path / "fault-closure.after_placeholder").exists(), 90, "the task to reach its pause")
        # The pool process running the task dies (as on an out-of-memory kill); the main process lives on.
        for pid in worker_children(worker):
            os.kill(pid, signal.SIGKILL)
        half_done = Plan.objects.filter(parent=dispatched_day).get()
        assert half_done.status in ("queued", "running") and half_done.dispatched_at is None
        assert (
            list(Stop.objects.filter(route__plan=dispatched_day).values_list("order_id", "sequence", "eta")) == before
        )
        application = wait_for(
            lambda: ClosureApplication.objects.filter(closure=closure, status="done").first(),
            120,
            "the retried re-plan",
        )
        assert application.attempts >= 2
        assert application.new_plans == [half_done.pk]  # the retry finished the same version: no duplicate
        assert Plan.objects.filter(parent=dispatched_day).count() == 1
        half_done.refresh_from_db()
        # It drops the cut-off stop, so the guard rails hold it for a dispatcher (test_replan_guard_rails.py).
        assert half_done.status == "done" and half_done.state == "proposed" and half_done.dispatched_at is None
    finally:
        stop_worker(worker)
