"""Mixed load on the production stack: drivers posting positions, dispatchers browsing, customers
polling their tracking pages. Issue 9: zero errors at the load the live-operations benchmark sustains.

    .venv/bin/python benchmarks/load.py                   # 500 drivers, 10 dispatchers, 300 customers, 60 s
    .venv/bin/python benchmarks/load.py --drivers 20 --dispatchers 2 --customers 20 --duration 15

What it does, all on 127.0.0.1 (see benchmarks/LOAD.md):
1. creates (when missing), migrates and empties the PostgreSQL database --database (default
   dispatch_bench_load); loads the demo road network, seeds the demo company and --orders orders for
   today, plans and dispatches the day (so routes, ETAs and tracking links exist), and adds drivers
   (with tokens) up to --drivers and --dispatchers dispatcher logins;
2. empties the Redis database --redis (default /10), collects the static files and starts the
   production processes with DEBUG=0: --web-processes daphne processes on consecutive ports (clients
   are spread over them, as behind a load balancer), --ws-processes daphne processes for /ws/ (as
   LIVE.md advises) and one Celery worker (the Procfile's `worker:`);
3. for --duration seconds: every driver POSTs one position every --interval s (its route's geometry
   when it has one); every dispatcher logs in through the login form, then browses dashboard pages
   and API lists with 1-3 s of think time; --dashboards sockets on /ws/dispatch/ take the live
   messages and ask for a snapshot every --snapshot-every s; every customer opens /t/<token>/ once
   and polls /api/track/<token>/ every --poll-every s. Each client has its own keep-alive HTTP/1.1
   connection from its own loopback address (127.x.y.z), so the per-IP limits of the tracking
   pages see many customers, as they would behind a proxy;
4. prints, per kind of request and overall: requests, throughput, p50/p95/p99 latency and errors
   (non-2xx/3xx, timeouts, connection errors; the first few shown), the load average and the CPU of
   each process. Exits 1 when there was any error.

Clients: raw asyncio HTTP/1.1 (benchmarks/_stack.py) and autobahn's asyncio websocket client (comes
with daphne). Every loop is bounded by --duration; nothing leaves loopback.
"""

import argparse
import asyncio
import collections
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._stack import (  # noqa: E402 - after the path is set
    BENCH_SECRET_KEY,
    HttpConnection,
    cpu_seconds,
    flush_redis,
    lower_priority,
    percentile,
    server_env,
    service_pids,
    start_celery_worker,
    start_daphne,
    stop_processes,
    system_busy_seconds,
    wait_for_server,
)

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/dispatch_bench_load"
DEFAULT_REDIS = "redis://127.0.0.1:6379/10"
DISPATCHER_PASSWORD = "load-dispatcher-2026"  # noqa: S105 - a throw-away benchmark login on loopback
# Liechtenstein, where the demo region is: drivers without a route wander inside it.
REGION = {"lat": (47.05, 47.27), "lon": (9.47, 9.63)}
ERRORS_SHOWN = 8


# --- setup (a child process: Django there, asyncio clients here) ------------------------------


def create_world(args) -> dict:
    """A dispatched demo day, extra drivers with tokens, dispatcher logins; what the clients need."""
    os.environ.update({"SECRET_KEY": BENCH_SECRET_KEY, "TASKS_RUN_INLINE": "1"})  # tracking tokens use the key
    from benchmarks._django import describe_database, setup_django

    setup_django(args.database)

    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from customers.selectors import active_tracking_links_by_order
    from customers.tracking_tokens import token_for_nonce
    from dispatch.models import Depot, Driver, Vehicle
    from dispatch.roles import DISPATCHER, DRIVER
    from routes.models import Plan
    from routes.plans.optimization import plan_compute
    from routes.plans.services import plan_dispatch

    call_command("load_road_network", stdout=open(os.devnull, "w"))  # noqa: SIM115
    day = timezone.localdate()
    call_command("seed_demo", orders=args.orders, date=day, stdout=open(os.devnull, "w"))  # noqa: SIM115
    # seed_demo lays today out around now (shifts from now for 9 hours, past midnight when late), so
    # that "now" falls inside today's routes whenever the benchmark runs.
    shift = Vehicle.objects.values_list("shift_start", "shift_end").first()
    depots = list(Depot.objects.order_by("code"))
    User = get_user_model()
    office = User.objects.get(username="dispatcher")
    plans = []
    for depot in depots:
        plan = Plan.objects.create(
            date=day, depot=depot, version=1, request={"depots": [depot.id], "time_budget_s": args.plan_budget}
        )
        plans.append(plan_dispatch(plan=plan_compute(plan_id=plan.pk), by=office))

    # Drivers: the demo's (with today's routes), then more without routes up to --drivers.
    extra = max(0, args.drivers - Driver.objects.count())
    vehicles = Vehicle.objects.bulk_create(
        [Vehicle(name=f"LOAD-{i:04d}", depot=depots[i % len(depots)], capacity_kg=800,
                 shift_start=shift[0], shift_end=shift[1]) for i in range(extra)]
    )  # fmt: skip
    extra_users = []
    for i in range(extra):
        user = User(username=f"load_driver_{i:04d}")
        user.set_unusable_password()
        extra_users.append(user)
    extra_users = User.objects.bulk_create(extra_users)
    Membership = User.groups.through
    driver_group = Group.objects.get(name=DRIVER)
    Membership.objects.bulk_create([Membership(user_id=u.id, group_id=driver_group.id) for u in extra_users])
    Driver.objects.bulk_create(
        [Driver(user=u, name=f"Load Driver {i}", depot=v.depot, vehicle=v) for i, (u, v) in enumerate(zip(extra_users, vehicles, strict=True))]
    )  # fmt: skip
    paths = {}
    for plan in plans:
        for route in plan.routes.select_related("driver"):
            if route.driver_id and route.geometry:
                coordinates = route.geometry["coordinates"]
                step = max(1, len(coordinates) // 150)
                paths[route.driver.user_id] = [[lat, lon] for lon, lat in coordinates[::step]]
    drivers = list(Driver.objects.select_related("user", "depot").order_by("id")[: args.drivers])

    # Dispatchers: one password hash for all (a login still costs the server one PBKDF2 check);
    # every third sees both depots, the others one.
    password = make_password(DISPATCHER_PASSWORD)
    dispatcher_users = User.objects.bulk_create(
        [User(username=f"load_dispatcher_{i:02d}", password=password) for i in range(args.dispatchers)]
    )
    dispatcher_group = Group.objects.get(name=DISPATCHER)
    Membership.objects.bulk_create([Membership(user_id=u.id, group_id=dispatcher_group.id) for u in dispatcher_users])
    DepotDispatchers = Depot.dispatchers.through
    seen_by = {u.id: depots if i % 3 == 0 else [depots[i % len(depots)]] for i, u in enumerate(dispatcher_users)}
    DepotDispatchers.objects.bulk_create(
        [DepotDispatchers(depot_id=d.id, user_id=user_id) for user_id, seen in seen_by.items() for d in seen]
    )
    token_of = {}
    for user in [d.user for d in drivers] + dispatcher_users:
        token_of[user.id] = Token.objects.get_or_create(user=user)[0].key

    dispatched = {
        depot.id: list(depot.orders.filter(date=day, status="dispatched").values_list("id", flat=True))
        for depot in depots
    }
    links = active_tracking_links_by_order([order for ids in dispatched.values() for order in ids])
    return {
        "database": describe_database(),
        "day": day.isoformat(),
        "plans": {str(p.pk): p.depot_id for p in plans},
        "routes": sum(p.routes.count() for p in plans),
        "drivers": [
            {"token": token_of[d.user_id], "depot": [d.depot.lat, d.depot.lon], "path": paths.get(d.user_id)}
            for d in drivers
        ],  # fmt: skip
        "dispatchers": [
            {
                "username": u.username,
                "token": token_of[u.id],
                "plans": [p.pk for p in plans if p.depot_id in {d.id for d in seen_by[u.id]}],
                "orders": [order for d in seen_by[u.id] for order in dispatched[d.id][:40]],
            }
            for u in dispatcher_users
        ],
        "tracking_tokens": [token_for_nonce(bytes(link.nonce)) for link in links.values()],
    }


# --- the record of every request --------------------------------------------------------------


class Recorder:
    """Latencies and errors per request name ("GET /plans/{id}/"), each name in one class of client."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.latencies = collections.defaultdict(list)
        self.errors = collections.Counter()  # (name, what) -> count
        self.first_errors = []
        self.class_of = {}
        self.stale_retries = 0
        self.positions = 0  # positions accepted (a POST may carry several after a slow one)
        self.database_connections = []  # samples of PostgreSQL connections to the benchmark's database
        self.started = time.monotonic()

    def error(self, client_class: str, name: str, what: str, detail: str = "") -> None:
        self.class_of[name] = client_class
        self.errors[(name, what)] += 1
        if len(self.first_errors) < ERRORS_SHOWN:
            self.first_errors.append(f"t+{time.monotonic() - self.started:5.1f}s {name}: {what} {detail}".rstrip())

    async def call(self, client_class, name, connection: HttpConnection, method, path, **request):
        """One request; a response is returned when it came (an error status too), else None."""
        self.class_of[name] = client_class
        sent, retried = time.perf_counter(), connection.stale_retries
        try:
            response = await asyncio.wait_for(
                connection.request(method, path, retry_stale=method == "GET", **request), self.timeout
            )
            self.stale_retries += connection.stale_retries - retried
        except TimeoutError:
            connection.close()
            self.error(client_class, name, f"timeout after {self.timeout:.0f} s", path)
            return None
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:  # ConnectionError is an OSError
            connection.close()
            self.error(client_class, name, type(error).__name__, f"{path}: {error}")
            return None
        self.latencies[name].append(time.perf_counter() - sent)
        if not 200 <= response.status < 400:
            snippet = re.sub(r"\s+", " ", response.text())[:160]
            self.error(client_class, name, f"HTTP {response.status}", f"{path}: {snippet}")
        return response


async def pause(seconds: float, deadline: float) -> None:
    """Sleep, but never past the end of the run."""
    await asyncio.sleep(max(0.0, min(seconds, deadline - time.monotonic())))


def client_ip(kind: int, index: int) -> str:
    """A loopback address of its own for each client: 127.<kind>.<index // 250>.<index % 250 + 1>."""
    return f"127.{kind}.{index // 250}.{index % 250 + 1}"


# --- clients ----------------------------------------------------------------------------------


async def driver_loop(index: int, driver: dict, port: int, args, recorder: Recorder, deadline: float) -> None:
    """One phone: a position every --interval s, along its route when it has one. As the driver app
    does, positions recorded while a POST is outstanding (or after a failed one) go in the next batch."""
    connection = HttpConnection(port, local_ip=client_ip(1, index))
    path = driver["path"] or [driver["depot"]]
    lat, lon = path[0]
    await asyncio.sleep(random.uniform(0, args.interval))
    due, step, queued = time.monotonic(), 0, []
    try:
        while time.monotonic() < deadline:  # bounded by --duration
            while due <= time.monotonic():  # the positions recorded since the last POST
                if driver["path"]:
                    lat, lon = path[min(step, len(path) - 1)]
                else:  # no route today: wander around, inside the region
                    lat = min(max(lat + random.uniform(-3e-4, 3e-4), REGION["lat"][0]), REGION["lat"][1])
                    lon = min(max(lon + random.uniform(-4e-4, 4e-4), REGION["lon"][0]), REGION["lon"][1])
                recorded = datetime.fromtimestamp(time.time() - (time.monotonic() - due), UTC)
                queued.append({"lat": lat, "lon": lon, "recorded_at": recorded.isoformat(), "accuracy_m": 5.0,
                               "speed_mps": 8.0, "heading": random.uniform(0, 360)})  # fmt: skip
                step, due = step + 1, due + args.interval
            queued = queued[-500:]  # the API's batch limit; the oldest go first
            response = await recorder.call(
                "driver", "POST /api/driver/positions/", connection, "POST", "/api/driver/positions/",
                headers={"Authorization": f"Token {driver['token']}", "Content-Type": "application/json"},
                body=json.dumps({"positions": queued}).encode(),
            )  # fmt: skip
            if response is not None and response.status == 202:
                recorder.positions += len(queued)
                queued = []
            await pause(due - time.monotonic(), deadline)
    finally:
        connection.close()


BROWSER = {"Accept": "text/html,application/xhtml+xml", "Accept-Encoding": "gzip"}
JSON = {"Accept": "application/json", "Accept-Encoding": "gzip"}


def dispatcher_pages(dispatcher: dict, day: str) -> list[tuple[int, str, str, dict]]:
    """(weight, name, path, headers): what a dispatcher's browser asks for, in proportion."""
    plan = random.choice(dispatcher["plans"])
    order = random.choice(dispatcher["orders"]) if dispatcher["orders"] else None
    pages = [
        (3, "GET /", "/", BROWSER),
        (2, "GET /live/", "/live/", BROWSER),
        (2, "GET /live/?format=json", "/live/?format=json", JSON),
        (1, "GET /plans/", f"/plans/?date={day}", BROWSER),
        (2, "GET /plans/{id}/", f"/plans/{plan}/", BROWSER),
        (2, "GET /api/orders/?date=", f"/api/orders/?date={day}", JSON),
        (1, "GET /api/plans/?date=", f"/api/plans/?date={day}", JSON),
        (2, "GET /api/plans/{id}/", f"/api/plans/{plan}/", JSON),
    ]
    if order is not None:
        pages.append((1, "GET /orders/{id}/", f"/orders/{order}/", BROWSER))
    return pages


async def dispatcher_loop(index, dispatcher, port, args, world, recorder: Recorder, deadline) -> None:
    """Log in through the form, then browse with think time, as a browser with a session does."""
    connection = HttpConnection(port, local_ip=client_ip(3, index))
    cookies = {}

    def with_cookies(headers):
        return dict(headers, Cookie="; ".join(f"{k}={v}" for k, v in cookies.items())) if cookies else headers

    await asyncio.sleep(random.uniform(0, min(3.0, args.duration / 4)))
    try:
        form = await recorder.call("dispatcher", "GET /login/", connection, "GET", "/login/", headers=BROWSER)
        if form is None:
            return
        cookies.update(form.set_cookies())
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text())
        fields = {"username": dispatcher["username"], "password": DISPATCHER_PASSWORD, "next": "/",
                  "csrfmiddlewaretoken": match.group(1) if match else ""}  # fmt: skip
        login = await recorder.call(
            "dispatcher", "POST /login/", connection, "POST", "/login/",
            headers=with_cookies({**BROWSER, "Content-Type": "application/x-www-form-urlencoded",
                                  "Origin": f"http://127.0.0.1:{port}", "Referer": f"http://127.0.0.1:{port}/login/"}),
            body=urllib.parse.urlencode(fields).encode(),
        )  # fmt: skip
        if login is None:
            return
        cookies.update(login.set_cookies())
        if "sessionid" not in cookies:
            recorder.error("dispatcher", "POST /login/", "no session", f"HTTP {login.status}: login refused")
            return
        while time.monotonic() < deadline:  # bounded by --duration
            pages = dispatcher_pages(dispatcher, world["day"])
            _, name, path, headers = random.choices(pages, weights=[p[0] for p in pages])[0]
            await recorder.call("dispatcher", name, connection, "GET", path, headers=with_cookies(headers))
            await pause(random.uniform(args.think_min, args.think_max), deadline)
    finally:
        connection.close()


async def customer_loop(index, tracking_token, port, args, recorder: Recorder, deadline) -> None:
    """Open the tracking page once, then poll its API (tracking.js's polling, every 30 s)."""
    connection = HttpConnection(port, local_ip=client_ip(2, index))
    # Arrivals spread over one polling period (or the first half of a short run).
    await asyncio.sleep(random.uniform(0, min(args.poll_every, args.duration / 2)))
    try:
        await recorder.call("customer", "GET /t/{token}/", connection, "GET", f"/t/{tracking_token}/", headers=BROWSER)
        while time.monotonic() < deadline:  # bounded by --duration
            await recorder.call(
                "customer", "GET /api/track/{token}/", connection, "GET", f"/api/track/{tracking_token}/", headers=JSON
            )
            await pause(args.poll_every, deadline)
    finally:
        connection.close()


class DashboardSockets:
    """--dashboards sockets on /ws/dispatch/: messages by type, snapshot round trips, early closes."""

    def __init__(self, recorder: Recorder):
        self.recorder = recorder
        self.messages = collections.Counter()
        self.position_delays = []
        self.protocols = []

    def protocol_class(self):
        import txaio

        txaio.use_asyncio()
        from autobahn.asyncio.websocket import WebSocketClientProtocol

        sockets = self

        class Dashboard(WebSocketClientProtocol):
            def onOpen(self):  # noqa: N802 - autobahn's names
                self.opened.set_result(True)

            def onMessage(self, payload, is_binary):  # noqa: N802
                message = json.loads(payload)
                kind = message.get("type", "?")
                sockets.messages[f"alert ({message.get('kind')})" if kind == "alert" else kind] += 1
                if kind == "snapshot" and self.snapshot_sent is not None:
                    sockets.recorder.latencies["ws snapshot"].append(time.perf_counter() - self.snapshot_sent)
                    self.snapshot_sent = None
                elif kind in ("driver.position", "driver.positions"):  # one, or a depot's batch of a tick
                    for position in message.get("positions", [message]):
                        recorded = datetime.fromisoformat(position["recorded_at"]).timestamp()
                        sockets.position_delays.append(time.time() - recorded)

            def onClose(self, was_clean, code, reason):  # noqa: N802
                if not self.opened.done():
                    self.opened.set_exception(ConnectionError(f"refused: {code} {reason}"))
                elif not self.closing_by_us:
                    sockets.recorder.error("dashboard", "ws /ws/dispatch/", "closed by server", f"{code} {reason}")

        return Dashboard

    async def open(self, protocol_class, port: int, token: str):
        from autobahn.asyncio.websocket import WebSocketClientFactory

        loop = asyncio.get_running_loop()
        factory = WebSocketClientFactory(
            f"ws://127.0.0.1:{port}/ws/dispatch/?positions=batched",  # as static/js/live.js asks
            origin=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Token {token}"},
        )
        factory.protocol = protocol_class
        factory.setProtocolOptions(closeHandshakeTimeout=10)  # a busy server finishes the close late
        self.recorder.class_of["ws snapshot"] = "dashboard"
        try:
            _, protocol = await loop.create_connection(factory, "127.0.0.1", port)
            protocol.opened, protocol.snapshot_sent, protocol.closing_by_us = loop.create_future(), None, False
            await asyncio.wait_for(protocol.opened, self.recorder.timeout)
        except (OSError, TimeoutError) as error:
            self.recorder.error("dashboard", "ws /ws/dispatch/", "open failed", str(error))
            return
        self.protocols.append(protocol)

    async def ask_snapshots(self, every: float, deadline: float) -> None:
        """Each socket asks for a snapshot every `every` s (a reconnecting or gap-seeing client does)."""
        await pause(random.uniform(0, min(every, (deadline - time.monotonic()) / 2)), deadline)
        while time.monotonic() < deadline:  # bounded by --duration
            for protocol in self.protocols:
                if protocol.snapshot_sent is not None:  # the last one never came
                    self.recorder.error("dashboard", "ws snapshot", "no answer", f"within {every:.0f} s")
                protocol.snapshot_sent = time.perf_counter()
                protocol.sendMessage(b'{"type": "snapshot"}')
                await pause(every / max(1, len(self.protocols)), deadline)

    async def close(self, timeout: float = 5.0):
        for protocol in self.protocols:
            protocol.closing_by_us = True
            protocol.sendClose()
        started = time.monotonic()
        while any(p.transport is not None and not p.transport.is_closing() for p in self.protocols):
            if time.monotonic() - started > timeout:  # bounded: the processes are stopped next anyway
                break
            await asyncio.sleep(0.1)


# --- the run ----------------------------------------------------------------------------------


def database_connections(url: str) -> tuple[int, int]:
    """(connections to the benchmark's database, connections to the whole server) right now."""
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(url, connect_timeout=5) as connection:
        ours, every = connection.execute(
            "SELECT count(*) FILTER (WHERE datname = %s), count(*) FROM pg_stat_activity", [name]
        ).fetchone()
    return ours - 1, every  # not this one


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (a Celery worker's pool processes)."""
    children = collections.defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            children[int(stat.read_text().rsplit(")", 1)[1].split()[1])].append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    tree, queue = [], [pid]
    while queue:
        tree.append(queue.pop())
        queue.extend(children[tree[-1]])
    return tree


async def run(args, world, processes: dict) -> dict:
    web_ports = [args.port + i for i in range(args.web_processes)]
    ws_ports = [args.port + args.web_processes + i for i in range(args.ws_processes)] or web_ports
    for port in web_ports + ws_ports:
        await wait_for_server(port)
    await asyncio.sleep(2)  # let the worker connect to the broker
    recorder = Recorder(args.timeout)
    sockets = DashboardSockets(recorder)
    protocol_class = sockets.protocol_class()
    dispatchers = world["dispatchers"]
    for i in range(args.dashboards if dispatchers else 0):
        await sockets.open(protocol_class, ws_ports[i % len(ws_ports)], dispatchers[i % len(dispatchers)]["token"])

    def cpu() -> dict[str, dict[int, float]]:
        """CPU seconds of each process, by group; processes come and go (PostgreSQL backends)."""
        groups = {name: process_tree(p.pid) for name, p in processes.items()}
        groups |= {"postgres (all databases)": service_pids("postgres"), "redis": service_pids("redis-server")}
        groups["load client"] = [os.getpid()]
        readings = {name: {pid: cpu_seconds(pid) for pid in pids} for name, pids in groups.items()}
        return {name: {pid: s for pid, s in by_pid.items() if s == s} for name, by_pid in readings.items()}  # no NaN

    cpu_before, busy_before = cpu(), system_busy_seconds()
    loads = [os.getloadavg()]
    started = recorder.started = time.monotonic()
    deadline = started + args.duration

    async def sample_load():
        while time.monotonic() < deadline:  # bounded by --duration
            await pause(5, deadline)
            loads.append(os.getloadavg())
            recorder.database_connections.append(await asyncio.to_thread(database_connections, args.database))

    tokens = world["tracking_tokens"]
    # As deploy/nginx routes them: positions to the live processes (with /ws/), away from page renders.
    position_ports = ws_ports if args.positions_to == "live" else web_ports
    clients = [driver_loop(i, d, position_ports[i % len(position_ports)], args, recorder, deadline)
               for i, d in enumerate(world["drivers"])]  # fmt: skip
    clients += [dispatcher_loop(i, d, web_ports[i % len(web_ports)], args, world, recorder, deadline)
                for i, d in enumerate(dispatchers)]  # fmt: skip
    clients += [customer_loop(i, tokens[i % len(tokens)], web_ports[i % len(web_ports)], args, recorder, deadline)
                for i in range(args.customers if tokens else 0)]  # fmt: skip
    clients += [sample_load(), sockets.ask_snapshots(args.snapshot_every, deadline)]
    await asyncio.gather(*clients)
    elapsed = time.monotonic() - started
    loads.append(os.getloadavg())
    cpu_after, busy = cpu(), system_busy_seconds() - busy_before
    await sockets.close()
    return {
        "recorder": recorder,
        "sockets": sockets,
        "elapsed": elapsed,
        "loads": loads,
        "cpu": {
            name: sum(s - cpu_before[name].get(pid, 0.0) for pid, s in by_pid.items())
            for name, by_pid in cpu_after.items()
        }
        | {"whole machine (busy)": busy},
    }


# --- the report -------------------------------------------------------------------------------


def _row(label: str, latencies: list, requests: int, errors: int, elapsed: float) -> str:
    def ms(values, fraction):
        return f"{percentile(values, fraction) * 1000:>7.0f}" if values else f"{'-':>7}"

    return (f"  {label:<34} {requests:>7} {requests / elapsed:>7.1f} {ms(latencies, 0.5)} {ms(latencies, 0.95)}"
            f" {ms(latencies, 0.99)} {ms(latencies, 1.0)} {errors:>6}")  # fmt: skip


def report(args, world, result, log_dir: Path) -> int:
    recorder, elapsed = result["recorder"], result["elapsed"]
    errors_of, unanswered = collections.Counter(), collections.Counter()
    for (name, what), count in recorder.errors.items():
        errors_of[name] += count
        if not what.startswith("HTTP") and name != "ws /ws/dispatch/":
            unanswered[name] += count  # a timeout or a failed connection: a request without a latency

    def row(label, names):
        latencies = [x for n in names for x in recorder.latencies[n]]
        requests = len(latencies) + sum(unanswered[n] for n in names)
        return _row(label, latencies, requests, sum(errors_of[n] for n in names), elapsed)

    print(
        f"\n{world['database']}, Redis {args.redis}, {os.cpu_count()} cores; {args.web_processes} web daphne"
        f" + {args.ws_processes} websocket daphne + 1 Celery worker (concurrency {args.worker_concurrency}), DEBUG=0"
        + (f", {' '.join(args.server_env)}" if args.server_env else "")
    )
    print(
        f"{len(world['drivers'])} drivers every {args.interval:g} s ({sum(1 for d in world['drivers'] if d['path'])}"
        f" on today's {world['routes']} routes), {len(world['dispatchers'])} dispatchers ({args.think_min:g}-"
        f"{args.think_max:g} s think time), {len(result['sockets'].protocols)} dashboard sockets,"
        f" {args.customers} customers polling every {args.poll_every:g} s; {elapsed:.1f} s of load"
    )
    loads = result["loads"]
    print(
        f"load average (1 min): before {loads[0][0]:.2f}, highest {max(load[0] for load in loads):.2f}, after"
        f" {loads[-1][0]:.2f} (5 min: {loads[-1][1]:.2f}); the machine may be shared"
    )
    header = ("request", "count", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors")
    print(f"\n  {header[0]:<34} " + " ".join(f"{h:>7}" for h in header[1:-1]) + f" {header[-1]:>6}")
    every = []
    for client_class in ("driver", "dispatcher", "customer", "dashboard"):
        names = sorted(n for n, c in recorder.class_of.items() if c == client_class)
        if names:
            print(row(f"{client_class} (all)", names))
            for name in names:
                print(row("  " + name, [name]))
            every += names
    print(row("all", every))
    total_errors = sum(recorder.errors.values())
    offered = len(world["drivers"]) / args.interval
    print(
        f"\npositions accepted: {recorder.positions} = {recorder.positions / elapsed:.1f}/s of {offered:.0f}/s recorded"
        " by the phones (a POST after a slow or failed one carries the positions recorded meanwhile)"
    )
    sockets = result["sockets"]
    delays = sockets.position_delays
    print(
        f"\ndashboard sockets: messages {dict(sockets.messages)}; position recorded → on a dashboard"
        f" p50 {percentile(delays, 0.5) * 1000:.0f} ms, p95 {percentile(delays, 0.95) * 1000:.0f} ms,"
        f" p99 {percentile(delays, 0.99) * 1000:.0f} ms (n={len(delays)})"
    )
    print(f"kept-alive connections the server had closed, GET sent again once: {recorder.stale_retries}")
    samples = recorder.database_connections
    if samples:
        print(
            f"PostgreSQL connections (every 5 s): to {args.database.rsplit('/', 1)[1]} up to"
            f" {max(s[0] for s in samples)}, to the whole server up to {max(s[1] for s in samples)}"
        )
    print("CPU seconds during the run: " + ", ".join(f"{n} {s:.1f}" for n, s in result["cpu"].items()))
    if recorder.errors:
        print(f"\nerrors: {total_errors}")
        for (name, what), count in recorder.errors.most_common():
            print(f"  {count:>6} × {name}: {what}")
        print("first errors:")
        for line in recorder.first_errors:
            print(f"  {line}")
    logged, first_logged = server_log_errors(log_dir)
    print(f"\nserver logs in {log_dir}: ERROR/CRITICAL lines {dict(logged) or 'none'}")
    for line in first_logged:
        print(f"  {line}")
    met = not total_errors and not logged
    print(
        f"target: zero errors with {len(world['drivers'])} drivers: {'met' if met else 'MISSED'}"
        f" ({total_errors} seen by clients, {sum(logged.values())} logged by the servers)"
    )
    return 0 if met else 1


def server_log_errors(log_dir: Path) -> tuple[collections.Counter, list[str]]:
    """ERROR/CRITICAL lines per process log (a 5xx, a failed or discarded Celery task), and the first few."""
    found, first = collections.Counter(), []
    for path in sorted(log_dir.glob("*.log")):
        if path.name == "setup.log":
            continue
        for line in path.read_text(errors="replace").splitlines():
            if re.search(r"\b(ERROR|CRITICAL)\b", line):
                found[path.name] += 1
                if len(first) < 3:
                    first.append(f"{path.name}: {line[:200]}")
    return found, first


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drivers", type=int, default=500, help="drivers posting positions (the live target: 500)")
    parser.add_argument("--dispatchers", type=int, default=10, help="dispatchers browsing")
    parser.add_argument("--customers", type=int, default=300, help="customers on their tracking pages")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between a driver's positions")
    parser.add_argument("--poll-every", type=float, default=30.0, help="seconds between a customer's polls")
    parser.add_argument("--think-min", type=float, default=1.0, help="a dispatcher's shortest pause, seconds")
    parser.add_argument("--think-max", type=float, default=3.0, help="a dispatcher's longest pause, seconds")
    parser.add_argument("--dashboards", type=int, default=20, help="sockets on /ws/dispatch/")
    parser.add_argument("--snapshot-every", type=float, default=30.0, help="seconds between a socket's snapshots")
    parser.add_argument("--orders", type=int, default=300, help="today's demo orders (planned and dispatched)")
    parser.add_argument("--plan-budget", type=float, default=10.0, help="solver seconds per depot when setting up")
    parser.add_argument("--web-processes", type=int, default=2, help="daphne processes for HTTP (consecutive ports)")
    parser.add_argument("--ws-processes", type=int, default=1, help="daphne processes for /ws/ (0: shared with web)")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="the Celery worker's pool processes")
    parser.add_argument(
        "--positions-to", choices=("live", "web"), default="live",
        help="where drivers post: the /ws/ daphne processes, as deploy/nginx routes them (live), or the web ones",
    )  # fmt: skip
    parser.add_argument(
        "--worker-same-priority", action="store_true", help="do not lower the Celery worker's CPU priority (nice 10)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a request counts as timed out")
    parser.add_argument("--port", type=int, default=8751)
    parser.add_argument("--database", default=os.environ.get("BENCH_LOAD_DATABASE_URL", DEFAULT_DATABASE))
    parser.add_argument("--redis", default=os.environ.get("BENCH_LOAD_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the daphne and Celery processes, e.g. DB_CONN_MAX_AGE=0 (repeatable)",
    )
    parser.add_argument("--setup-into", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if any("=" not in setting for setting in args.server_env):
        parser.error("--server-env takes NAME=VALUE")
    if not args.database.startswith("postgres"):
        parser.error("the production stack needs a postgres:// --database")
    if not 1 <= args.web_processes <= 8 or not 0 <= args.ws_processes <= 4 or args.duration <= 0:
        parser.error("--web-processes 1..8, --ws-processes 0..4, --duration > 0")
    if args.drivers < 0 or args.dispatchers < 0 or args.customers < 0 or args.think_max < args.think_min:
        parser.error("counts >= 0 and --think-max >= --think-min")

    if args.setup_into:
        # Django is set up in this child only (daphne's twisted reactor choice and autobahn's
        # asyncio flavour of txaio cannot share the client's process).
        Path(args.setup_into).write_text(json.dumps(create_world(args)))
        return
    random.seed(9)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one socket per simulated client
    var_dir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    os.environ["VAR_DIR"] = str(var_dir)  # the road network, static files and the processes' logs
    print(f"setting up {args.database.rsplit('/', 1)[1]}: demo day, {args.drivers} drivers, "
          f"{args.dispatchers} dispatchers (files and logs in {var_dir})…", flush=True)  # fmt: skip
    world_file, setup_log = var_dir / "world.json", var_dir / "setup.log"
    started = time.monotonic()
    with open(setup_log, "w") as log:
        setup = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--setup-into", str(world_file)], stdout=log, stderr=log
        )
    if setup.returncode:
        sys.exit(f"setup failed; the end of {setup_log}:\n" + "\n".join(setup_log.read_text().splitlines()[-30:]))
    world = json.loads(world_file.read_text())
    env = server_env(database=args.database, redis=args.redis, VAR_DIR=str(var_dir))
    env.update(setting.split("=", 1) for setting in args.server_env)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    flush_redis(args.redis)
    ports = [args.port + i for i in range(args.web_processes + args.ws_processes)]
    daphnes = start_daphne(application="config.asgi:application", ports=ports, env=env, log_prefix=var_dir / "daphne")
    processes = {
        f"daphne {'web' if i < args.web_processes else 'ws'} :{port}": p
        for i, (port, p) in enumerate(zip(ports, daphnes, strict=True))
    }
    processes["celery worker"] = start_celery_worker(
        env=env, log_path=var_dir / "worker.log", concurrency=args.worker_concurrency
    )
    if not args.worker_same_priority:
        time.sleep(3)  # the pool processes are forked at start
        lower_priority(processes["celery worker"].pid)
    print(f"set up in {time.monotonic() - started:.0f} s: {len(world['drivers'])} drivers, {len(world['dispatchers'])} "
          f"dispatchers, {len(world['tracking_tokens'])} tracking links; load for {args.duration:g} s…", flush=True)  # fmt: skip
    try:
        result = asyncio.run(run(args, world, processes))
    finally:
        stop_processes(processes.values())
    sys.exit(report(args, world, result, var_dir))


if __name__ == "__main__":
    main()
