"""Faults, for real: Redis killed under a running server, PostgreSQL restarted under load, a Celery
worker killed mid-task, an SMS provider that does not answer. No mocks: each test starts the
processes it breaks (a private redis-server, a private PostgreSQL cluster, daphne, a Celery worker)
and never touches the machine's shared services.

They run in the PostgreSQL + Redis pass of `make test` only: the embedded pass has no Redis, broker
or separate processes to lose, and running them twice would only double the minutes.
"""

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

from config.celery import app as celery_app
from customers.models import Notification
from customers.tracking_links import tracking_links_create
from customers.tracking_tokens import token_for_nonce
from dispatch.models import Alert, Customer, Order
from routes.models import Plan, Route, Stop
from tests.celery_workers import send_tasks_to, start_worker, stop_worker, wait_for, wait_until_ready, worker_children
from tests.driver.conftest import write_plan
from tests.routes.conftest import demo_network_dir  # noqa: F401 - a fixture optimize_plan needs

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
# The servers' SECRET_KEY (DEBUG=0 wants a real one); tracking tokens are derived from it.
SERVER_SECRET_KEY = secrets.token_urlsafe(60)
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _production_mode_only():
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip(
            "process-level fault test: runs in the PostgreSQL + Redis pass (the embedded mode has no "
            "Redis, broker or separate processes to lose)"
        )


# --- Processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = 30, process: subprocess.Popen | None = None, log: Path = None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited: {log.read_text()[-3000:] if log else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}: {log.read_text()[-3000:] if log else ''}")


def end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_redis(port: int, tmp_path: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for_port(port, 10, process)
    return process


def servers_database_url(**changes) -> str:
    db = connection.settings_dict
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    parts = urlsplit(url)
    return urlunsplit(parts._replace(**changes))


class Server:
    """daphne serving the app as in production (DEBUG=0), with the environment given."""

    def __init__(self, tmp_path: Path, **env):
        self.port = free_port()
        self.log = tmp_path / f"daphne-{self.port}.log"
        environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        environment.update(
            DEBUG="0", SECRET_KEY=SERVER_SECRET_KEY, ALLOWED_HOSTS="127.0.0.1,localhost",
            SECURE_SSL_REDIRECT="0", VAR_DIR=str(tmp_path), PYTHONUNBUFFERED="1", **env,
        )  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"],
            cwd=ROOT, env=environment, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for_port(self.port, 60, self.process, self.log)

    def get(self, path: str, token: str | None = None, timeout: float = 15) -> tuple[int, dict, bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if token:
            request.add_header("Authorization", f"Token {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our own server
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def websocket_first_message(self, path: str, token: str, timeout: float = 15) -> dict:
        """Open a WebSocket (RFC 6455 by hand: no client library is installed) and read one text frame."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall(
                (
                    f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                    f"Origin: http://127.0.0.1:{self.port}\r\nAuthorization: Token {token}\r\n\r\n"
                ).encode()
            )
            reader = sock.makefile("rb")
            status_line = reader.readline().decode()
            assert " 101 " in status_line, status_line
            while reader.readline() not in (b"\r\n", b""):
                pass
            first, second = reader.read(2)
            assert first & 0x0F == 0x1, f"expected a text frame, got opcode {first & 0x0F}"
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(reader.read(2), "big")
            elif length == 127:
                length = int.from_bytes(reader.read(8), "big")
            return json.loads(reader.read(length))

    def stop(self):
        end(self.process)


@pytest.fixture
def servers():
    started = []
    yield started
    for server in started:
        server.stop()


# --- A small dispatched day to read ----------------------------------------------------------------


@pytest.fixture
def readable_day(settings, dispatcher_a, depot_a, vehicle_a, driver_a):
    from routes.plans.services import plan_dispatch

    settings.SECRET_KEY = SERVER_SECRET_KEY  # so that the tracking token is valid on the servers

    today = timezone.localdate()
    orders = [
        Order.objects.create(reference=f"F-{n}", date=today, depot=depot_a, lat=47.14 + n / 1000, lon=9.52)
        for n in range(3)
    ]
    plan = write_plan(day=today, depot=depot_a, routes={(vehicle_a, driver_a): orders})
    plan_dispatch(plan=plan, by=dispatcher_a)
    (link,) = tracking_links_create(orders=[orders[0]])
    token, _ = Token.objects.get_or_create(user=dispatcher_a)
    return {
        "token": token.key,
        "reads": ["/api/orders/", f"/api/plans/{plan.pk}/", f"/api/track/{token_for_nonce(link.nonce)}/"],
    }


# --- Redis down ------------------------------------------------------------------------------------


def test_it_serves_reads_while_redis_is_down_says_so_on_healthz_and_live_clients_reconnect(
    readable_day, tmp_path, servers
):
    redis_port = free_port()
    redis = start_redis(redis_port, tmp_path)
    try:
        server = Server(tmp_path, DATABASE_URL=servers_database_url(), REDIS_URL=f"redis://127.0.0.1:{redis_port}/0")
        servers.append(server)
        token = readable_day["token"]
        status, _, body = server.get("/healthz")
        assert status == 200, body
        assert server.websocket_first_message("/ws/dispatch/", token)["type"] == "snapshot"

        redis.kill()
        redis.wait()
        started = time.monotonic()
        status, _, body = server.get("/healthz")
        assert status == 503, body
        health = json.loads(body)
        assert health["database"] == "ok"
        assert health["channel_layer"] != "ok" and health["broker"] != "ok"
        assert set(health["failing"]) == {"channel_layer", "broker"}
        assert time.monotonic() - started < 10, "the health check must time out quickly, not hang"
        for path in readable_day["reads"]:
            status, headers, body = server.get(path, token)
            assert status == 200, (path, status, body[:300])
            assert headers["Content-Type"].startswith("application/json")

        # Redis comes back on the same address: new live connections work and get a fresh snapshot.
        redis = start_redis(redis_port, tmp_path)
        message = wait_for(lambda: _try(lambda: server.websocket_first_message("/ws/dispatch/", token)), 20, "a socket")
        assert message["type"] == "snapshot" and "seq" in message
        assert server.get("/healthz")[0] == 200
    finally:
        end(redis)


def _try(action):
    try:
        return action()
    except (OSError, AssertionError, ValueError):
        return None


# --- PostgreSQL restarted under load ---------------------------------------------------------------


@pytest.fixture
def private_postgres(readable_day):
    """A PostgreSQL cluster of this test's own (the machine's is shared), holding a copy of the test database."""
    if not (PG_BIN / "initdb").exists() or not shutil.which("pg_dump"):
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN}")
    # PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
    owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    home = Path(tempfile.mkdtemp(prefix="hardening-pg-"))
    if owner:
        shutil.chown(home, "postgres", "postgres")
    data, port = home / "data", free_port()
    subprocess.run(
        [*owner, PG_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True,
    )  # fmt: skip
    pg_ctl = [*owner, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(home / "postgres.log"), "-w", "-t", "30"]
    options = ["-o", f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"]
    subprocess.run([*pg_ctl, *options, "start"], check=True, capture_output=True)
    try:
        subprocess.run(["createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "dispatch"], check=True)
        db = connection.settings_dict
        dump = subprocess.run(
            ["pg_dump", "--no-owner", "--no-privileges", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432),
             "-U", db["USER"] or "postgres", db["NAME"]],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        subprocess.run(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "dispatch"],
            input=dump, check=True, capture_output=True,
        )  # fmt: skip
        yield {"url": f"postgres://postgres@127.0.0.1:{port}/dispatch", "pg_ctl": pg_ctl, "options": options}
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def _assert_clean(results):
    """Every answer is a 200, or a 503 in the API's error shape with Retry-After; never a 500."""
    for path, status, headers, body in results:
        if status == 200:
            continue
        assert status == 503, (path, status, body[:500])
        assert headers.get("Retry-After"), headers
        assert headers["Content-Type"].startswith("application/json"), (path, headers, body[:300])
        error = json.loads(body)
        assert "database" in error["detail"].lower() and error["errors"], error


def _recovered(server, token, reads, within_s: float = 20):
    answers = []

    def all_ok():
        answers.extend((path, *server.get(path, token)) for path in reads)
        return all(status == 200 for _, status, _, _ in answers[-len(reads) :])

    wait_for(all_ok, within_s, "the API to recover after PostgreSQL came back")
    _assert_clean(answers)


def test_it_answers_503_while_postgresql_is_down_and_recovers_after_a_restart_under_load(
    readable_day, private_postgres, tmp_path, servers
):
    # DB_POOL_TIMEOUT_S: how long a request waits for a pooled connection while the database is down.
    # The tracking page's rate limits are not under test: four clients in a loop would reach them.
    server = Server(
        tmp_path, DATABASE_URL=private_postgres["url"], DB_CONN_MAX_AGE="60", DB_POOL_TIMEOUT_S="2",
        TRACKING_RATE_PER_IP="1000000", TRACKING_RATE_PER_TOKEN="1000000",
    )  # fmt: skip
    servers.append(server)
    token, reads = readable_day["token"], readable_day["reads"]
    for path in reads:
        assert server.get(path, token)[0] == 200, path
    pg_ctl, options = private_postgres["pg_ctl"], private_postgres["options"]

    # Down: every request fails at once, cleanly, and /healthz names the database.
    subprocess.run([*pg_ctl, "-m", "fast", "stop"], check=True, capture_output=True)
    down = [(path, *server.get(path, token)) for path in reads]
    assert {status for _, status, _, _ in down} == {503}, down
    _assert_clean(down)
    status, _, body = server.get("/healthz")
    assert status == 503 and json.loads(body)["failing"] == ["database"]

    # Up again: requests reconnect within seconds (a connection the outage broke may fail one more
    # request, cleanly, before it is dropped), and then keep working.
    subprocess.run([*pg_ctl, *options, "start"], check=True, capture_output=True)
    _recovered(server, token, reads)

    # A restart while four clients keep asking.
    results, stop = [], threading.Event()

    def client(path):
        while not stop.is_set():
            results.append((path, *server.get(path, token)))

    clients = [threading.Thread(target=client, args=(reads[n % len(reads)],)) for n in range(4)]
    for thread in clients:
        thread.start()
    time.sleep(1)
    subprocess.run([*pg_ctl, *options, "-m", "fast", "restart"], check=True, capture_output=True)
    time.sleep(2)
    stop.set()
    for thread in clients:
        thread.join(timeout=30)

    assert len(results) > 20
    _assert_clean(results)
    _recovered(server, token, reads)
    assert "Internal Server Error" not in server.log.read_text()


# --- Celery workers killed mid-task; a slow SMS provider --------------------------------------------


class FakeSmsProvider:
    """Twilio's Messages resource on localhost: records each request; the first `slow_requests` answer
    after `delay_s` (or never, while the test runs), the rest at once."""

    def __init__(self, delay_s: float = 0.0, slow_requests: int = 0):
        provider = self
        self.requests: list[dict] = []
        self.delay_s, self.slow_requests = delay_s, slow_requests
        self.release = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                provider.requests.append({"path": self.path, "body": body.decode()})
                if len(provider.requests) <= provider.slow_requests:
                    provider.release.wait(provider.delay_s)
                answer = json.dumps({"sid": f"SM{len(provider.requests):032d}"}).encode()
                try:
                    self.send_response(201)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client gave up (timeout) or died

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def customer_worker(settings, monkeypatch, tmp_path):
    """Route customer tasks to a real worker (started by each test, with the SMS settings it needs)."""
    import uuid

    send_tasks_to(f"hardening-{uuid.uuid4().hex[:10]}", settings, monkeypatch, handlers="customers.")
    started = []

    def start(provider: FakeSmsProvider, faults: str = "", **env):
        environment = {
            "SMS_BACKEND": "customers.notifications.backends.TwilioSmsBackend",
            "TWILIO_API_URL": provider.url,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "secret",
            "TWILIO_FROM_NUMBER": "+4230000000",
            "NOTIFICATION_RETRY_DELAYS_S": "1,1,1",
            "PUBLIC_BASE_URL": "https://track.example.com",
            "CELERY_NOTIFICATION_QUEUE": "",
            **env,
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        worker = start_worker(settings.CELERY_TASK_DEFAULT_QUEUE, tmp_path, faults=faults)
        started.append(worker)
        wait_until_ready(worker, tmp_path / "worker.log")
        return worker

    yield start
    for worker in started:
        stop_worker(worker)


@pytest.fixture
def sms_order(depot_a):
    """An order whose customer takes SMS only, and its (pending) "scheduled" message to send."""
    customer = Customer.objects.create(name="Anna", phone="+423 111 22 33", notify_by_email=False)
    order = Order.objects.create(
        reference="SMS-1", date=timezone.localdate(), depot=depot_a, lat=47.14, lon=9.52, customer=customer,
        phone="+423 111 22 33", status=Order.Status.DISPATCHED,
    )  # fmt: skip
    return order


def _enqueue_sms(order, capture):
    from customers.services import notifications_create

    with capture(execute=True):
        (notification,) = notifications_create(order=order, event="scheduled", occasion="hardening")
    return notification


def _kill_pool(worker):
    # The pool process running the task dies (as on an out-of-memory kill); the main process lives on.
    for pid in worker_children(worker):
        os.kill(pid, signal.SIGKILL)


def test_a_notification_interrupted_before_it_reached_the_provider_is_sent_once_after_the_retry(
    customer_worker, sms_order, tmp_path, django_capture_on_commit_callbacks
):
    provider = FakeSmsProvider()
    try:
        worker = customer_worker(provider, faults="notification.before_claim=60", CELERY_VISIBILITY_TIMEOUT_S="10")
        notification = _enqueue_sms(sms_order, django_capture_on_commit_callbacks)
        wait_for(lambda: (tmp_path / "fault-notification.before_claim").exists(), 60, "the task to reach its pause")
        _kill_pool(worker)
        wait_for(lambda: Notification.objects.get(pk=notification.pk).status == "sent", 60, "the retried send")
        time.sleep(2)  # a duplicate would show up now
        notification.refresh_from_db()
        assert (notification.status, notification.attempts) == ("sent", 1)
        assert len(provider.requests) == 1
        assert Notification.objects.filter(order=sms_order).count() == 1
    finally:
        provider.close()


def test_a_notification_interrupted_while_the_provider_had_it_is_never_sent_twice(
    customer_worker, sms_order, tmp_path, django_capture_on_commit_callbacks
):
    provider = FakeSmsProvider(delay_s=60, slow_requests=1)
    try:
        worker = customer_worker(
            provider, NOTIFICATION_SEND_TIMEOUT_S="30", NOTIFICATION_STALE_SENDING_S="4",
            CELERY_VISIBILITY_TIMEOUT_S="10",
        )  # fmt: skip
        notification = _enqueue_sms(sms_order, django_capture_on_commit_callbacks)
        wait_for(lambda: provider.requests, 60, "the provider to receive the message")
        _kill_pool(worker)
        # The redelivered task finds the row "sending", comes back once that is stale, and gives up.
        wait_for(lambda: Notification.objects.get(pk=notification.pk).status == "failed", 60, "the interrupted row")
        notification.refresh_from_db()
        assert "interrupted while sending" in notification.status_reason
        assert len(provider.requests) == 1  # the customer got it at most once
        assert Alert.objects.filter(dedup_key=f"notification:{notification.pk}").exists()
    finally:
        provider.close()


def test_a_slow_sms_provider_holds_up_no_request_and_the_send_times_out_cleanly(
    customer_worker, sms_order, driver_a, vehicle_a, dispatcher_a, depot_a, driver_client, tmp_path, settings
):
    from routes.plans.services import plan_dispatch

    provider = FakeSmsProvider(delay_s=30, slow_requests=100)
    try:
        sms_order.status = Order.Status.NEW
        sms_order.save()
        plan = write_plan(day=sms_order.date, depot=depot_a, routes={(vehicle_a, driver_a): [sms_order]})
        plan_dispatch(plan=plan, by=dispatcher_a)
        customer_worker(provider, NOTIFICATION_SEND_TIMEOUT_S="2")
        stop = Stop.objects.get(route__plan=plan)

        # The driver arrives: "arriving soon" and others go out by SMS, through the worker, not this request.
        # This process talks to the same stalling provider, and would wait for it 30 s: a request
        # that sent a message itself, instead of leaving it to the worker, could not be quick.
        settings.SMS_BACKEND = "customers.notifications.backends.TwilioSmsBackend"
        settings.TWILIO_API_URL = provider.url
        settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC" + "0" * 32, "secret"
        settings.TWILIO_FROM_NUMBER = "+4230000000"
        settings.NOTIFICATION_SEND_TIMEOUT_S = 30
        for action in ("arrive", "deliver"):
            started = time.monotonic()
            response = driver_client.post(f"/api/driver/stops/{stop.pk}/{action}/", {"recipient_name": "Anna"})
            assert response.status_code == 200, response.content
            assert time.monotonic() - started < 10, "a web request waited on the SMS provider"

        wait_for(lambda: provider.requests, 60, "the worker to reach the provider")
        # The provider never answers in time: each message fails after the 2 s timeout, once, not retried
        # (the provider had it and may have sent it), and the dispatcher gets an alert for it.
        wait_for(
            lambda: not Notification.objects.filter(order=sms_order, status__in=["pending", "sending"]).exists()
            and Notification.objects.filter(order=sms_order).exists(),
            60,
            "every message to be settled",
        )
        rows = list(Notification.objects.filter(order=sms_order))
        assert {n.status for n in rows} == {"failed"}, [(n.event, n.status, n.status_reason) for n in rows]
        assert all("no answer from" in n.status_reason and n.attempts == 1 for n in rows)
        assert len(provider.requests) == len(rows)
        assert Alert.objects.filter(order=sms_order, dedup_key__startswith="notification:").count() == len(rows)
    finally:
        provider.close()


def test_it_finishes_a_plan_after_the_worker_is_killed_before_saving_without_a_second_version(
    settings,
    demo_network_dir,  # noqa: F811 - the imported fixture
    dispatcher_a,
    depot_a,
    vehicle_a,
    tmp_path,
    monkeypatch,
):
    from datetime import datetime
    from datetime import time as clock

    from dispatch.models import Vehicle
    from routes.models import RoadNetworkBuild
    from routes.plans.services import plan_request

    RoadNetworkBuild.objects.create(source=str(settings.DEMO_PBF), path=str(demo_network_dir), active=True)
    Vehicle.objects.filter(pk=vehicle_a.pk).update(shift_start=clock(0, 5), shift_end=clock(23, 55))
    today = timezone.localdate()
    for number, (lat, lon) in enumerate([(47.1399, 9.5213), (47.1450, 9.5235), (47.1352, 9.5190), (47.1300, 9.5230)]):
        Order.objects.create(reference=f"P{number}", date=today, depot=depot_a, lat=lat, lon=lon, snap_distance_m=10)
    settings.CELERY_TASK_DEFAULT_QUEUE = f"hardening-plans-{secrets.token_hex(5)}"
    settings.CELERY_WORK_QUEUES = {}  # the plan too goes to the default queue, the worker's
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.TASKS_RUN_INLINE = False
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    worker = start_worker(settings.CELERY_TASK_DEFAULT_QUEUE, tmp_path, faults="plan.before_save=60")
    try:
        # Planned as on this morning (a clock the worker reads from the plan): at the evening hours the
        # suite may run at, a plan for today from now would have no shift left to fill.
        morning = timezone.make_aware(datetime.combine(today, clock(6)))
        (plan,) = plan_request(user=dispatcher_a, day=today, depot_code="A", time_budget_s=1, now=morning)
        wait_for(lambda: (tmp_path / "fault-plan.before_save").exists(), 90, "the solve to finish, before saving")
        assert Plan.objects.get(pk=plan.pk).status == "running"
        _kill_pool(worker)
        wait_for(lambda: Plan.objects.get(pk=plan.pk).status in ("done", "failed"), 120, "the retried plan")
        plan.refresh_from_db()
        assert plan.status == "done", plan.error
        assert list(Plan.objects.filter(date=today, depot=depot_a).values_list("pk", "version")) == [(plan.pk, 1)]
        assert Route.objects.filter(plan=plan).count() == 1
        routed = list(Stop.objects.filter(route__plan=plan).values_list("order_id", flat=True))
        assert len(routed) == len(set(routed)) == 4
    finally:
        stop_worker(worker)
