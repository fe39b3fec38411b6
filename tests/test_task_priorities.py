"""Background work has priorities, in both modes (issue #14, item 3).

Each kind of work has a queue of its own (config/tasks.py): a flood of customer messages and
live-ETA jobs never delays a plan, neither with the production layout (a real Celery worker for
plans, another for the rest, Redis between them) nor in the embedded mode (a thread per queue in
this process). Live-ETA messages are coalesced per order: ten ETAs while one waits make one message,
the latest. /healthz?detail=1 shows each queue's age; GET /api/plans/{id}/ where a queued plan stands.

Every test has queues of its own (random names), so no other run's worker takes its tasks. A job
that keeps a queue's thread busy (_Hold) stands for a long task where a test needs one waiting.
"""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import time as clock
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from config import tasks as config_tasks
from config.celery import app as celery_app
from customers.models import Notification, PromisedWindow
from customers.notifications.tasks import notify_eta, notify_plan, notify_status
from customers.services import promise_window_for
from dispatch import events
from dispatch.models import Customer, Order, Vehicle
from routes.models import Plan, RoadNetworkBuild
from tests.celery_workers import start_worker, stop_worker, wait_for, wait_until_ready
from tests.customers.conftest import build_day_route
from tests.routes.conftest import demo_network_dir  # noqa: F401 - a fixture optimize_plan needs

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = bool(os.environ.get("REDIS_URL"))
# Real workers and Redis: the production-mode pass only. The embedded-mode tests run in both passes
# (their queues are threads of this process; only the cache and the database differ).
with_redis = pytest.mark.skipif(not PRODUCTION, reason="needs REDIS_URL and PostgreSQL (the production-mode pass)")
KINDS = ("plans", "live", "notifications", "default")
FLOOD_ORDERS = 300


class _Hold:
    """A job that keeps its queue's thread busy until released (a long task, for the embedded mode)."""

    name = "tests.hold"

    def __init__(self):
        self.started, self.released = threading.Event(), threading.Event()

    def apply(self, args=(), kwargs=None):
        self.started.set()
        self.released.wait(60)


def hold(kind: str) -> _Hold:
    job = _Hold()
    config_tasks._submit_embedded(config_tasks.queue_of_kind(kind), config_tasks._Job(job, (), {}))
    assert job.started.wait(10)
    return job


def embedded_queue(kind: str):
    return config_tasks._embedded_queue(config_tasks.queue_of_kind(kind))


def idle(*kinds: str) -> bool:
    return all(not embedded_queue(k).waiting() and embedded_queue(k).running is None for k in kinds)


@pytest.fixture
def queues(settings):
    """Queues of this test's own for every kind of work."""
    suffix = uuid.uuid4().hex[:8]
    names = {kind: f"test-{kind}-{suffix}" for kind in KINDS}
    settings.CELERY_WORK_QUEUES = names
    settings.CELERY_TASK_DEFAULT_QUEUE = names["default"]
    settings.TASK_LIVE_BACKLOG_MAX = 5000
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "customers.notifications.backends.OutboxSmsBackend"
    settings.NOTIFICATION_WEBHOOK_URL = ""
    settings.PUBLIC_BASE_URL = "https://track.example.com"
    yield names
    if PRODUCTION:
        config_tasks._broker().delete(*names.values())


@pytest.fixture
def embedded(queues, settings):
    """The embedded mode: no broker, a thread per queue in this process."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.TASKS_RUN_INLINE = False
    yield
    # Nothing of this test may still run when its database goes away.
    wait_for(lambda: idle(*KINDS), 120, "the test's queues to drain")


@pytest.fixture
def broker(queues, settings, monkeypatch):
    """The production mode: tasks go through Redis to workers (started by each test)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (the workers are other processes)")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.TASKS_RUN_INLINE = False
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    return queues


@pytest.fixture
def start(broker, tmp_path):
    """Start a worker on a list of kinds' queues, with every kind routed as in this process."""
    env = {
        "CELERY_PLANS_QUEUE": broker["plans"], "CELERY_LIVE_QUEUE": broker["live"],
        "CELERY_NOTIFICATION_QUEUE": broker["notifications"], "CELERY_QUEUE": broker["default"],
        "TASK_LIVE_BACKLOG_MAX": "5000", "PUBLIC_BASE_URL": "https://track.example.com",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend", "DB_CONN_MAX_AGE": "0",
    }  # fmt: skip
    started = []

    def start_on(*kinds: str):
        directory = tmp_path / "-".join(kinds)
        directory.mkdir()
        worker = start_worker(",".join(broker[k] for k in kinds), directory, env=env)
        started.append(worker)
        wait_until_ready(worker, directory / "worker.log")
        return worker

    yield start_on
    for worker in started:
        stop_worker(worker)


def _forget_coalescing(*keys: str) -> None:
    # Redis outlives a test session whose ids start again at 1: an old run's mark must not hold ours back.
    names = [f"tasks:{what}:{key}" for key in keys for what in ("pending", "latest")]
    config_tasks._local_store.delete(*names)
    if PRODUCTION:
        config_tasks._redis_store.delete(*names)


# --- a flood does not delay a plan -----------------------------------------------------------------


@pytest.fixture
def plan_world(queues, depot_a, vehicle_a, demo_network_dir):  # noqa: F811 - the imported fixture
    """Six orders of tomorrow (no hour of today matters) to plan, and 300 customers' orders to flood."""
    RoadNetworkBuild.objects.create(source=str(django_settings.DEMO_PBF), path=str(demo_network_dir), active=True)
    Vehicle.objects.filter(pk=vehicle_a.pk).update(shift_start=clock(6), shift_end=clock(22))
    tomorrow = timezone.localdate() + timedelta(days=1)
    points = [(47.1399, 9.5213), (47.1450, 9.5235), (47.1352, 9.5190), (47.1300, 9.5230), (47.1420, 9.5160)]
    for number, (lat, lon) in enumerate(points):
        Order.objects.create(reference=f"P{number}", date=tomorrow, depot=depot_a, lat=lat, lon=lon, snap_distance_m=10)
    customers = Customer.objects.bulk_create(
        Customer(name=f"Customer {n}", email=f"c{n}@example.com") for n in range(FLOOD_ORDERS)
    )
    flood = Order.objects.bulk_create(
        Order(reference=f"F{n}", date=tomorrow, depot=depot_a, lat=47.14, lon=9.52, customer=c, email=c.email)
        for n, c in enumerate(customers)
    )
    _forget_coalescing(*(f"{notify_eta.name}:{o.pk}" for o in flood))
    return {"day": tomorrow, "flood": [o.pk for o in flood]}


def flood(order_ids: list[int], messages_per_order: int) -> None:
    """Live ETAs for every order (one job per order, coalesced) and status messages (not coalesced)."""
    eta = (timezone.now() + timedelta(hours=30)).isoformat()
    for order_id in order_ids:
        config_tasks.enqueue(notify_eta, order_id, eta)
        for _ in range(messages_per_order):
            config_tasks.enqueue(notify_status, order_id, "en_route")


def request_plan(dispatcher, day) -> Plan:
    from routes.plans.services import plan_request

    (plan,) = plan_request(user=dispatcher, day=day, depot_code="A", time_budget_s=1)
    return plan


@pytest.mark.worker
@with_redis
def test_a_flood_of_messages_does_not_delay_a_plan_with_a_worker_for_plans(plan_world, start, broker, dispatcher_a):
    redis = config_tasks._broker()
    start("plans")
    start("live", "notifications", "default")
    flood(plan_world["flood"], messages_per_order=8)
    waiting_before = redis.llen(broker["live"]) + redis.llen(broker["notifications"])
    assert waiting_before > 2000

    asked = time.monotonic()
    plan = request_plan(dispatcher_a, plan_world["day"])
    done = wait_for(lambda: Plan.objects.filter(pk=plan.pk, status__in=["done", "failed"]).first(), 90, "the plan")
    took = time.monotonic() - asked
    still_waiting = redis.llen(broker["live"]) + redis.llen(broker["notifications"])

    print(
        {"flood_queued": waiting_before, "plan_done_after_s": round(took, 2), "flood_waiting_when_done": still_waiting}
    )
    assert done.status == "done", done.error
    assert took < 60
    # The plan was done while the flood was still being worked through: it never waited behind it.
    assert still_waiting > 0, f"the flood ({waiting_before} jobs) drained before the plan was done ({took:.1f} s)"


def test_a_flood_of_messages_does_not_delay_a_plan_in_the_embedded_mode(plan_world, embedded, dispatcher_a):
    if connection.vendor == "sqlite":
        pytest.skip("the in-memory test database cannot take writing threads: see the test on a SQLite file below")
    flood(plan_world["flood"], messages_per_order=3)
    waiting_before = len(embedded_queue("live").waiting()) + len(embedded_queue("notifications").waiting())
    assert waiting_before > 500

    asked = time.monotonic()
    plan = request_plan(dispatcher_a, plan_world["day"])

    def started():
        if Plan.objects.filter(pk=plan.pk, status="queued").exists():
            return None
        return {"waiting": len(embedded_queue("live").waiting()) + len(embedded_queue("notifications").waiting())}

    still_waiting = wait_for(started, 30, "the plan to start")["waiting"]
    done = wait_for(lambda: Plan.objects.filter(pk=plan.pk, status__in=["done", "failed"]).first(), 90, "the plan")
    took = time.monotonic() - asked

    print(
        {"flood_queued": waiting_before, "plan_done_after_s": round(took, 2), "flood_waiting_at_start": still_waiting}
    )
    assert still_waiting > 0  # it started with hundreds of jobs still waiting in the other queues
    assert done.status == "done", done.error
    assert took < 60


@pytest.mark.skipif(PRODUCTION, reason="the embedded mode's own process; the production pass tries its threads above")
def test_a_flood_of_messages_does_not_delay_a_plan_in_the_embedded_mode_on_its_sqlite_file(
    demo_network_dir,  # noqa: F811 - the imported fixture
    tmp_path,
):
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    run = subprocess.run(
        [sys.executable, "-m", "tests.embedded_flood", str(demo_network_dir), str(FLOOD_ORDERS), "3"],
        cwd=ROOT, env={**environment, "VAR_DIR": str(tmp_path), "TASK_LIVE_BACKLOG_MAX": "5000"},
        capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(result)

    assert result["flood_queued"] > 1000
    assert result["plan_status"] == "done", result["plan_error"]
    assert 0 <= result["plan_started_after_s"] < 10
    # It started with most of the flood still waiting in the other queues, and did not wait for it.
    assert result["flood_waiting_at_start"] > 500
    assert result["plan_done_after_s"] < 60


# --- coalescing: ten ETAs for one order while one waits make one message, the latest ----------------


@pytest.fixture
def customer_day(queues, depot_a, vehicle_a, driver_a):
    customer = Customer.objects.create(name="Erika Muster", email="erika@example.com", phone="", language="de")
    day = build_day_route(depot_a, vehicle_a, driver_a, customer)
    order = day["orders"][0]
    _forget_coalescing(f"{notify_eta.name}:{order.pk}")
    notify_plan.apply(args=[day["plan"].pk])  # the first promise ("scheduled"), inline
    return order


def ten_etas(order) -> list:
    promise = PromisedWindow.objects.get(order=order)
    etas = [promise.end + timedelta(minutes=75 * n) for n in range(1, 11)]  # each beyond the one before
    for eta in etas:
        events.eta_changed(order_id=order.pk, depot_id=order.depot_id, eta=eta)
    return etas


def assert_one_delayed_message_with_the_latest_window(order, latest_eta) -> None:
    delayed = list(Notification.objects.filter(order=order, event="delayed").values_list("channel", "status"))
    assert delayed == [("email", "sent")]
    promise = PromisedWindow.objects.get(order=order)
    assert (promise.start, promise.end) == promise_window_for(latest_eta)
    assert promise.revision == 2  # moved once, straight to the latest


def test_it_sends_one_eta_message_per_order_the_latest_in_the_embedded_mode(customer_day, embedded):
    live = config_tasks.queue_of_kind("live")
    busy = hold("live")
    etas = ten_etas(customer_day)
    waiting = embedded_queue("live").waiting()
    assert [job.task.name for job in waiting] == [config_tasks.run_latest.name]
    assert config_tasks.counters(live)["coalesced"] == 9
    busy.released.set()

    wait_for(lambda: idle("live", "notifications"), 30, "the live and notification queues")
    assert_one_delayed_message_with_the_latest_window(customer_day, etas[-1])


@pytest.mark.worker
@with_redis
def test_it_sends_one_eta_message_per_order_the_latest_through_real_workers(customer_day, start, broker):
    redis = config_tasks._broker()
    etas = ten_etas(customer_day)  # no worker yet: all ten arrive while the first waits
    assert redis.llen(broker["live"]) == 1
    assert config_tasks.counters(broker["live"])["coalesced"] == 9

    start("live", "notifications")
    wait_for(
        lambda: Notification.objects.filter(order=customer_day, event="delayed", status="sent").exists()
        and redis.llen(broker["live"]) == 0,
        60,
        "the message",
    )
    time.sleep(1)  # a second job, were there one, would have run by now
    assert_one_delayed_message_with_the_latest_window(customer_day, etas[-1])


# --- a bounded backlog --------------------------------------------------------------------------


def test_it_drops_the_oldest_live_jobs_beyond_the_bound_in_the_embedded_mode(depot_a, embedded, settings):
    settings.TASK_LIVE_BACKLOG_MAX = 5
    busy = hold("live")
    ids = list(range(10_000_001, 10_000_009))  # orders that do not exist: the jobs find nothing to do
    _forget_coalescing(*(f"{notify_eta.name}:{i}" for i in ids))
    for order_id in ids:
        config_tasks.enqueue(notify_eta, order_id, None)
    waiting = embedded_queue("live").waiting()
    assert [job.args[1] for job in waiting] == [f"{notify_eta.name}:{i}" for i in ids[-5:]]
    assert config_tasks.counters(config_tasks.queue_of_kind("live"))["dropped"] == 3
    # A dropped order is no longer marked waiting: its next ETA queues a job again.
    config_tasks.enqueue(notify_eta, ids[0], None)
    assert embedded_queue("live").waiting()[-1].args[1] == f"{notify_eta.name}:{ids[0]}"
    busy.released.set()


def test_it_never_drops_jobs_from_a_live_queue_shared_with_other_work(depot_a, embedded, settings, queues):
    settings.CELERY_WORK_QUEUES = {**queues, "live": queues["notifications"]}  # no queue of its own
    settings.TASK_LIVE_BACKLOG_MAX = 2
    busy = hold("notifications")
    ids = list(range(10_000_011, 10_000_015))
    _forget_coalescing(*(f"{notify_eta.name}:{i}" for i in ids))
    for order_id in ids:
        config_tasks.enqueue(notify_eta, order_id, None)
    assert len(embedded_queue("notifications").waiting()) == 4
    assert config_tasks.counters(queues["notifications"])["dropped"] == 0
    busy.released.set()


@with_redis
def test_it_drops_the_oldest_live_jobs_beyond_the_bound_in_redis(broker, settings):
    settings.TASK_LIVE_BACKLOG_MAX = 5
    ids = list(range(10_000_101, 10_000_109))
    _forget_coalescing(*(f"{notify_eta.name}:{i}" for i in ids))
    for order_id in ids:
        config_tasks.enqueue(notify_eta, order_id, None)
    redis = config_tasks._broker()
    kept = [config_tasks._decode(raw)[1][1] for raw in reversed(redis.lrange(broker["live"], 0, -1))]
    assert kept == [f"{notify_eta.name}:{i}" for i in ids[-5:]]  # oldest first: the three oldest went
    assert config_tasks.counters(broker["live"])["dropped"] == 3
    config_tasks.enqueue(notify_eta, ids[0], None)
    assert config_tasks._decode(redis.lindex(broker["live"], 0))[1][1] == f"{notify_eta.name}:{ids[0]}"


# --- where a queued plan stands, and the queues' ages on /healthz ------------------------------------


def _ask_three(client):
    response = client.post(
        "/api/plans/", {"date": "2030-06-03", "depot": "A", "alternatives": ["cost", "balanced", "fewest_vehicles"]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 202, response.content
    return response.json()["alternatives"]


def _positions(client, plan_ids):
    return [client.get(f"/api/plans/{pk}/").json()["queue_position"] for pk in plan_ids]


def test_the_api_says_how_many_tasks_wait_ahead_of_a_queued_plan_in_the_embedded_mode(
    embedded, dispatcher_a_client, vehicle_a
):
    busy = hold("plans")
    plan_ids = _ask_three(dispatcher_a_client)
    assert _positions(dispatcher_a_client, plan_ids) == [0, 1, 2]
    busy.released.set()
    wait_for(lambda: not Plan.objects.filter(pk__in=plan_ids, status__in=["queued", "running"]).exists(), 60, "plans")
    assert _positions(dispatcher_a_client, plan_ids) == [None, None, None]


@with_redis
def test_the_api_says_how_many_tasks_wait_ahead_of_a_queued_plan_in_redis(broker, dispatcher_a_client, vehicle_a):
    plan_ids = _ask_three(dispatcher_a_client)  # nobody consumes this test's plans queue
    assert _positions(dispatcher_a_client, plan_ids) == [0, 1, 2]
    Plan.objects.filter(pk=plan_ids[0]).update(status="running")
    assert _positions(dispatcher_a_client, plan_ids)[0] is None


def test_the_plan_schema_documents_queue_position(dispatcher_a_client):
    schema = dispatcher_a_client.get("/api/schema/?format=json").json()
    field = schema["components"]["schemas"]["PlanOutput"]["properties"]["queue_position"]
    assert field["type"] == "integer" and field.get("nullable") is True and "ahead" in field["description"]


def _detail(client, **headers):
    return client.get("/healthz?detail=1", **headers)


def test_healthz_shows_each_queue_s_oldest_waiting_age_to_staff(embedded, client, manager, dispatcher_a, settings):
    busy = hold("notifications")
    config_tasks.enqueue(notify_status, 10_000_201, "en_route")
    time.sleep(1.2)

    assert _detail(client).status_code == 403  # anonymous
    client.force_login(dispatcher_a)  # not staff
    assert _detail(client).status_code == 403
    client.force_login(manager)
    body = _detail(client).json()
    notifications = body["queues"]["notifications"]
    assert notifications["queue"] == config_tasks.queue_of_kind("notifications")
    assert notifications["waiting"] == 1 and notifications["oldest_age_s"] >= 1.0
    assert body["queues"]["plans"] == {
        "queue": config_tasks.queue_of_kind("plans"), "waiting": 0, "oldest_age_s": None, "coalesced": 0, "dropped": 0,
    }  # fmt: skip
    assert set(body) >= {"status", "database", "channel_layer", "broker", "queues"}
    busy.released.set()


@with_redis
def test_healthz_shows_each_queue_s_oldest_waiting_age_from_redis(broker, client, settings):
    settings.HEALTHZ_TOKEN = "monitoring-secret-" + "x" * 20
    config_tasks.enqueue(notify_status, 10_000_301, "en_route")  # nobody consumes this test's queues
    config_tasks.enqueue(notify_status, 10_000_302, "en_route")
    time.sleep(1.2)

    assert _detail(client, HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    body = _detail(client, HTTP_AUTHORIZATION=f"Bearer {settings.HEALTHZ_TOKEN}").json()
    notifications = body["queues"]["notifications"]
    assert notifications["queue"] == broker["notifications"]
    assert notifications["waiting"] == 2 and 1.0 <= notifications["oldest_age_s"] < 30
    assert body["queues"]["plans"]["waiting"] == 0 and body["queues"]["plans"]["oldest_age_s"] is None


def test_the_plain_healthz_stays_public_and_unchanged(client):
    assert set(client.get("/healthz").json()) == {"status", "database", "channel_layer", "broker"}


def test_every_task_has_a_kind_and_plans_have_a_queue_of_their_own(settings):
    from tests.test_celery_tasks import _project_tasks

    unlisted = _project_tasks() - set(settings.TASK_KINDS) - {config_tasks.run_latest.name}
    # Only the nightly and retention work goes to the default queue: a new task needs a kind in
    # settings.TASK_KINDS (a plan's work on "plans", a live follow-up on "live", a message on "notifications").
    assert unlisted == {
        "analytics.tasks.daily_summary", "analytics.tasks.order_facts_refresh_day",
        "analytics.tasks.order_facts_refresh_recent", "dispatch.tasks.prune_driver_positions",
        "customers.tasks.personal_data_expire", "routes.tasks.learn_travel_model",
    }  # fmt: skip
    assert {k for k, kind in settings.TASK_KINDS.items() if kind == "plans"} == {
        "routes.tasks.optimize_plan", "routes.tasks.replan_plan", "routes.tasks.closure_changed",
        "routes.tasks.expire_replan_proposal", "routes.tasks.expire_replan_proposals",
        # a big day in parts: its regions, their merge, the deadline's check
        "routes.tasks.solve_plan_part", "routes.tasks.merge_plan_parts", "routes.tasks.check_plan_parts",
    }  # fmt: skip
    # Out of the box: the Procfile's worker takes every queue (no -Q: all of CELERY_TASK_QUEUES), its
    # planner the plans queue alone.
    processes = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert "-Q" not in processes["worker"]
    assert "-Q ${CELERY_PLANS_QUEUE:-plans}" in processes["planner"]
    assert [q.name for q in settings.CELERY_TASK_QUEUES] == ["plans", "live", "notifications", "celery"]


# --- a day's facts: every tap asks for its rebuild; while one waits, the others join it --------------


def test_a_days_fact_rebuilds_coalesce_per_day_and_depot_in_the_embedded_mode(embedded, depot_a, depot_b):
    from analytics.models import OrderFact
    from analytics.tasks import order_facts_refresh_day

    day = timezone.localdate()
    orders = [Order.objects.create(reference=f"C{n}", date=day, depot=d, lat=47.14, lon=9.52)
              for n, d in enumerate((depot_a, depot_a, depot_b))]  # fmt: skip
    _forget_coalescing(*(f"{order_facts_refresh_day.name}:{day.isoformat()}:{d.pk}" for d in (depot_a, depot_b)))
    busy = hold("default")
    for _ in range(20):  # twenty taps of depot A's drivers, one of depot B's
        config_tasks.enqueue(order_facts_refresh_day, day.isoformat(), depot_a.pk)
    config_tasks.enqueue(order_facts_refresh_day, day.isoformat(), depot_b.pk)
    waiting = [job for job in embedded_queue("default").waiting() if job.task.name == config_tasks.run_latest.name]
    assert [job.args[1] for job in waiting] == [
        f"{order_facts_refresh_day.name}:{day.isoformat()}:{depot_a.pk}",
        f"{order_facts_refresh_day.name}:{day.isoformat()}:{depot_b.pk}",
    ]
    busy.released.set()
    wait_for(lambda: idle("default"), 30, "the default queue")
    assert set(OrderFact.objects.values_list("order_id", flat=True)) == {o.pk for o in orders}
    # The stored arguments expired while the job waited (or a worker killed mid-run took them, and
    # acks_late gave the job to another): the job carries its call, which is all of its key.
    OrderFact.objects.all().delete()
    key = waiting[0].args[1]
    _forget_coalescing(key)
    config_tasks.run_latest(order_facts_refresh_day.name, key, [day.isoformat(), depot_a.pk])
    assert set(OrderFact.objects.values_list("order_id", flat=True)) == {o.pk for o in orders if o.depot == depot_a}
