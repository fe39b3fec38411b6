"""A big day in parts on a real Celery worker (production mode only): a worker process killed while
solving a region does not leave the plan stuck; the region is solved again, stored once, and the plan
is merged once and completes."""

import os
import secrets
import signal
from datetime import time

import pytest
from django.db import connection

from dispatch.models import Order, Vehicle
from routes.models import Plan, PlanPart, RoadNetworkBuild, Stop, UnassignedOrder
from routes.plans.services import plan_request
from tests.celery_workers import send_tasks_to, start_worker, stop_worker, wait_for, wait_until_ready, worker_children
from tests.routes.conftest import demo_network_dir  # noqa: F401 - a fixture the worker's plan needs
from tests.routes.test_plans import DAY, VADUZ_POINTS

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_killed_mid_region_leaves_no_plan_stuck_and_no_region_twice(
    settings,
    demo_network_dir,  # noqa: F811 - the imported fixture
    dispatcher_a,
    depot_a,
    vehicle_a,
    tmp_path,
    monkeypatch,
):
    if not os.environ.get("REDIS_URL") or connection.vendor != "postgresql":
        pytest.skip("needs REDIS_URL and PostgreSQL (a real broker; the worker must see the test database)")
    RoadNetworkBuild.objects.create(source=str(settings.DEMO_PBF), path=str(demo_network_dir), active=True)
    for n in range(3):
        Vehicle.objects.create(
            name=f"A-Van{n + 2}", depot=depot_a, kind="van", capacity_kg=800, shift_start=time(7), shift_end=time(19)
        )
    Vehicle.objects.filter(pk=vehicle_a.pk).update(shift_start=time(7), shift_end=time(19))
    for number, (lat, lon) in enumerate(VADUZ_POINTS):
        Order.objects.create(reference=f"S{number}", date=DAY, depot=depot_a, lat=lat, lon=lon, snap_distance_m=10)
    queue = f"split-plans-{secrets.token_hex(5)}"
    send_tasks_to(queue, settings, monkeypatch, handlers="routes")
    # The demo day counts as big in the worker: ten orders in regions of about three.
    split = {"PLAN_SPLIT_MIN_ORDERS": "8", "PLAN_SPLIT_REGION_ORDERS": "3"}
    worker = start_worker(queue, tmp_path, faults="plan.part_solve=60", env=split)
    try:
        wait_until_ready(worker, tmp_path / "worker.log")
        (plan,) = plan_request(user=dispatcher_a, day=DAY, depot_code="A", time_budget_s=6)
        started = wait_for(
            lambda: (tmp_path / "fault-plan.part_solve").exists() or Plan.objects.get(pk=plan.pk).status == "failed",
            120,
            "a region to start solving",
        )
        assert (tmp_path / "fault-plan.part_solve").exists(), (started, Plan.objects.get(pk=plan.pk).error)
        assert Plan.objects.get(pk=plan.pk).stage == "solving regions"
        for child in worker_children(worker):  # the pool process solving the region dies
            os.kill(child, signal.SIGKILL)
        wait_for(lambda: Plan.objects.get(pk=plan.pk).status in ("done", "failed"), 180, "the plan to finish")
        plan.refresh_from_db()
        assert plan.status == "done", plan.error
        assert plan.solver.startswith("split: ")
        parts = list(PlanPart.objects.filter(plan=plan))
        assert len(parts) >= 2 and all(p.status == "done" for p in parts)
        assert sorted(p.attempts for p in parts)[-1] == 2  # the killed region ran again, once more
        routed = list(Stop.objects.filter(route__plan=plan).values_list("order_id", flat=True))
        left_out = list(UnassignedOrder.objects.filter(plan=plan).values_list("order_id", flat=True))
        assert len(routed) == len(set(routed))
        assert sorted(routed + left_out) == sorted(Order.objects.values_list("id", flat=True))
        assert list(Plan.objects.values_list("pk", flat=True)) == [plan.pk]
    finally:
        stop_worker(worker)
