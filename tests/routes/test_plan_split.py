"""Big days in parts (routes.plans.splitting) on the demo region: the size threshold, every order once,
idempotent region tasks, one merge, a deadline that fails a plan whose parts did not come back, and the
progress per part on the plan's API. The real-worker case (a worker killed mid-chord) is in
tests/routes/test_plan_split_worker.py."""

from datetime import time

import pytest

from dispatch.models import Vehicle
from routes.models import Plan, PlanPart, Stop, UnassignedOrder
from routes.network import RoadNetwork
from routes.plans import kept_matrices, splitting
from routes.plans.services import plan_request
from routes.plans.tasks import check_plan_parts, merge_plan_parts, optimize_plan, solve_plan_part
from tests.routes.test_plans import DAY, _run_on_commit, day_of_orders, request_plan  # noqa: F401 - fixtures


@pytest.fixture
def big_day(settings, day_of_orders, depot_a):  # noqa: F811 - the imported fixture
    """The demo day counts as big: ten orders cut into regions of about three."""
    settings.PLAN_SPLIT_MIN_ORDERS = 8
    settings.PLAN_SPLIT_REGION_ORDERS = 3
    for n in range(2):
        Vehicle.objects.create(
            name=f"A-Van{n + 2}", depot=depot_a, kind="van", capacity_kg=800, shift_start=time(7), shift_end=time(19),
            cost_per_km=0.4, cost_per_hour=30, fixed_cost=40,
        )  # fmt: skip
    return day_of_orders


def assert_every_order_once(plan_id, orders):
    routed = list(Stop.objects.filter(route__plan_id=plan_id).values_list("order_id", flat=True))
    left_out = dict(UnassignedOrder.objects.filter(plan_id=plan_id).values_list("order_id", "reason"))
    assert len(routed) == len(set(routed))
    assert sorted(routed + list(left_out)) == sorted(orders)
    assert all(left_out.values())  # each with a reason


def test_a_big_day_is_planned_in_regions_and_merged_with_every_order_once(dispatcher_a_client, big_day):
    queued = request_plan(dispatcher_a_client, time_budget_s=4)
    plan = dispatcher_a_client.get(f"/api/plans/{queued['id']}/").json()

    assert plan["status"] == "done", plan["error"]
    assert plan["solver"].startswith("split: ")
    assert plan["parts"] is None  # progress per part only while it runs
    parts = list(PlanPart.objects.filter(plan_id=plan["id"]))
    assert len(parts) >= 2 and all(p.status == "done" and p.attempts == 1 for p in parts)
    assert sorted(j for p in parts for j in p.job_ids) == sorted(big_day)
    vehicles = [v for p in parts for v in p.vehicle_ids]
    assert len(vehicles) == len(set(vehicles)) == Vehicle.objects.count()
    assert_every_order_once(plan["id"], big_day)
    for route in plan["routes"]:  # the evaluator's rules, as the page shows them
        assert [s["sequence"] for s in route["stops"]] == list(range(1, len(route["stops"]) + 1))
        for stop in route["stops"]:
            if stop["window_end"]:
                assert stop["late_s"] == 0


def test_a_region_redelivered_after_its_worker_died_past_the_store_still_queues_the_merge(
    dispatcher_a, big_day, django_capture_on_commit_callbacks, monkeypatch
):
    (plan,) = plan_request(user=dispatcher_a, day=DAY, depot_code="A", time_budget_s=4)
    with django_capture_on_commit_callbacks(execute=False):
        splitting.plan_split_start(plan_id=plan.pk)
    parts = list(PlanPart.objects.filter(plan=plan).order_by("index"))
    for part in parts[:-1]:
        solve_plan_part.apply(args=[plan.pk, part.index])

    def killed(plan_id):
        raise SystemExit("worker killed after storing the region")

    with monkeypatch.context() as patch:
        patch.setattr(splitting, "_merge_when_every_part_is_done", killed)
        with pytest.raises(SystemExit):
            splitting.plan_part_solve(plan_id=plan.pk, index=parts[-1].index)
    assert PlanPart.objects.get(pk=parts[-1].pk).status == "done"
    assert Plan.objects.get(pk=plan.pk).stage == "solving regions"  # nobody queued the merge

    with django_capture_on_commit_callbacks(execute=True):
        solve_plan_part.apply(args=[plan.pk, parts[-1].index])  # the broker hands the task out again
    plan.refresh_from_db()
    assert plan.status == "done", plan.error
    assert PlanPart.objects.get(pk=parts[-1].pk).attempts == 1  # stored once, not solved again
    assert_every_order_once(plan.pk, big_day)


def test_below_the_threshold_a_day_is_one_solve(dispatcher_a_client, big_day, settings):
    settings.PLAN_SPLIT_MIN_ORDERS = 11
    plan = dispatcher_a_client.get(f"/api/plans/{request_plan(dispatcher_a_client)['id']}/").json()
    assert plan["status"] == "done", plan["error"]
    assert not plan["solver"].startswith("split")
    assert not PlanPart.objects.exists()


def test_region_tasks_are_idempotent_and_the_last_one_merges_once(
    dispatcher_a, big_day, django_capture_on_commit_callbacks
):
    (plan,) = plan_request(user=dispatcher_a, day=DAY, depot_code="A", time_budget_s=4)  # not started: no commit
    with django_capture_on_commit_callbacks(execute=False) as queued:
        splitting.plan_split_start(plan_id=plan.pk)
    assert len(queued) == 1  # the regions' solves and the deadline check, queued once the parts are stored
    parts = list(PlanPart.objects.filter(plan=plan).order_by("index"))
    assert len(parts) >= 2 and PlanPart.objects.filter(plan=plan).count() == len(parts)

    solve_plan_part.apply(args=[plan.pk, 0])
    first = PlanPart.objects.get(plan=plan, index=0)
    solve_plan_part.apply(args=[plan.pk, 0])  # the same region again: nothing solved, nothing stored
    again = PlanPart.objects.get(plan=plan, index=0)
    assert (again.attempts, again.sequences, again.finished_at) == (1, first.sequences, first.finished_at)
    plan.refresh_from_db()
    assert plan.stage == "solving regions" and 30 < plan.progress < 80
    assert splitting.plan_parts_progress(plan) == {"done": 1, "total": len(parts), "stage": "solving regions"}

    merge_plan_parts.apply(args=[plan.pk])  # too early (a stray message): it waits for every region
    assert Plan.objects.get(pk=plan.pk).status == "running"

    with django_capture_on_commit_callbacks(execute=True) as merges:
        for part in parts[1:]:
            solve_plan_part.apply(args=[plan.pk, part.index])
    # The last region stored queued the merge, once (the other callbacks are the saved plan's announcements).
    assert [c.__qualname__ for c in merges].count("_merge_when_every_part_is_done.<locals>.<lambda>") == 1
    plan.refresh_from_db()
    assert plan.status == "done", plan.error
    assert_every_order_once(plan.pk, big_day)
    stops = list(Stop.objects.filter(route__plan=plan).values_list("order_id", "sequence"))

    with django_capture_on_commit_callbacks(execute=True) as more:
        solve_plan_part.apply(args=[plan.pk, parts[-1].index])
        merge_plan_parts.apply(args=[plan.pk])
        optimize_plan.apply(args=[plan.pk])
        splitting.plan_split_start(plan_id=plan.pk)
    assert not [
        c
        for c in more
        if c.__qualname__.startswith(("plan_part_solve", "_merge_when_every_part_is_done", "plan_split_start"))
    ]
    assert list(Stop.objects.filter(route__plan=plan).values_list("order_id", "sequence")) == stops
    assert Plan.objects.count() == 1


def test_the_merge_reads_the_splits_road_matrices_back_and_removes_them(
    dispatcher_a, big_day, settings, tmp_path, monkeypatch
):
    settings.VAR_DIR = tmp_path
    computed = []
    compute = RoadNetwork.matrix

    def counting(network, points, *args, **kwargs):
        computed.append(len(points))
        return compute(network, points, *args, **kwargs)

    monkeypatch.setattr(RoadNetwork, "matrix", counting)
    (plan,) = plan_request(user=dispatcher_a, day=DAY, depot_code="A", time_budget_s=4)
    splitting.plan_split_start(plan_id=plan.pk)
    at_split = list(computed)
    assert at_split and list(kept_matrices.directory_for(plan.pk).glob("*.npy"))

    for part in PlanPart.objects.filter(plan=plan):
        solve_plan_part.apply(args=[plan.pk, part.index])
    merge_plan_parts.apply(args=[plan.pk])  # the test's transaction never commits: the merge by hand
    plan.refresh_from_db()
    assert plan.status == "done", plan.error
    assert_every_order_once(plan.pk, big_day)
    assert computed == at_split  # the day's matrices were not computed a second time
    assert not kept_matrices.directory_for(plan.pk).exists()


def test_regions_fill_the_rounds_of_the_workers(settings):
    settings.PLAN_SPLIT_REGION_ORDERS = 350
    # 5,250 orders: 15 regions of 350 would leave one of 2 workers idle in the 8th round; 16 do not.
    assert splitting.region_size(5250, 2) == 5250 / 16
    assert splitting.region_size(4998, 2) == 4998 / 14  # 14 already fill 7 rounds
    assert splitting.region_size(5250, 1) == 350  # one at a time (the embedded mode): as configured
    assert splitting.region_size(300, 2) == 350  # one region: nothing to fill


def test_a_plan_whose_regions_do_not_come_back_fails_at_its_deadline_saying_which(dispatcher_a, big_day):
    (plan,) = plan_request(user=dispatcher_a, day=DAY, depot_code="A", time_budget_s=4)
    splitting.plan_split_start(plan_id=plan.pk)
    total = PlanPart.objects.filter(plan=plan).count()
    solve_plan_part.apply(args=[plan.pk, 0])

    check_plan_parts.apply(args=[plan.pk])
    plan.refresh_from_db()
    assert plan.status == "failed"
    missing = ", ".join(str(n) for n in range(2, total + 1))
    assert f"regions {missing} of {total} were not solved within" in plan.error

    solve_plan_part.apply(args=[plan.pk, 1])  # a late region changes nothing
    assert PlanPart.objects.get(plan=plan, index=1).status == "waiting"
    assert Plan.objects.get(pk=plan.pk).status == "failed"


def test_the_plan_page_names_the_stages_of_a_day_in_parts(client, dispatcher_a_client, dispatcher_a, big_day):
    (plan,) = plan_request(user=dispatcher_a, day=DAY, depot_code="A", time_budget_s=4)
    splitting.plan_split_start(plan_id=plan.pk)
    client.force_login(dispatcher_a)
    page = client.get(f"/plans/{plan.pk}/")
    assert page.status_code == 200
    assert "Solving regions" in page.content.decode()
    api = dispatcher_a_client.get(f"/api/plans/{plan.pk}/").json()
    assert api["stage"] == "solving regions"
    assert api["parts"] == {"done": 0, "total": PlanPart.objects.filter(plan=plan).count(), "stage": "solving regions"}


def test_the_plan_schema_documents_the_progress_per_part(dispatcher_a_client):
    schema = dispatcher_a_client.get("/api/schema/?format=json").json()
    field = schema["components"]["schemas"]["PlanOutput"]["properties"]["parts"]
    assert "regions" in (field.get("description") or str(field)), field
