"""Live fan-out on the production stack: N drivers post positions, dashboards receive them.

    .venv/bin/python benchmarks/live_fanout.py [--drivers 500] [--duration 60] [--web-processes 2]

What it does, all on 127.0.0.1:
1. creates (when missing) and migrates the PostgreSQL database DATABASE (default dispatch_bench_live),
   empties it, and creates --depots depots, --drivers drivers with tokens and --dashboards dispatchers
   (each dispatcher sees one depot, round-robin; with one depot every dashboard sees every driver);
2. empties the dedicated Redis database REDIS (default redis://127.0.0.1:6379/7) and starts
   --web-processes daphne processes on consecutive ports (as behind a load balancer: clients are spread
   over them), the production ASGI application with DEBUG=0;
3. opens the dashboards' websockets (/ws/dispatch/, token header), then every simulated driver POSTs
   one position to /api/driver/positions/ every --interval seconds for --duration seconds over its own
   keep-alive connection; recorded_at is the client's clock at send time, so a dashboard's receive
   time minus recorded_at is the latency from POST sent to position shown (same machine, same clock);
4. prints positions/s, POST and POST-to-dashboard latency percentiles, whether every dashboard ended
   with every visible driver's final position, and the CPU used by each process; stops daphne.

Clients: raw asyncio HTTP/1.1 (keep-alive) and autobahn's asyncio websocket client (autobahn comes
with daphne; nothing extra to install). Loops are bounded by --duration; nothing leaves loopback.
"""

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._stack import (  # noqa: E402 - after the path is set
    HttpConnection,
    cpu_seconds,
    flush_redis,
    lower_priority,
    process_tree,
    server_env,
    service_pids,
    start_celery_worker,
    start_daphne,
    system_busy_seconds,
    wait_for_server,
)
from benchmarks._stack import percentile as _percentile  # noqa: E402
from benchmarks._stack import stop_processes as stop_web  # noqa: E402

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/dispatch_bench_live"
DEFAULT_REDIS = "redis://127.0.0.1:6379/7"
ORIGIN_HOST = "127.0.0.1"


def _ms(values):
    return " ".join(f"p{int(q * 100)}={_percentile(values, q) * 1000:.0f}ms" for q in (0.5, 0.95, 0.99)) + (
        f" max={max(values) * 1000:.0f}ms n={len(values)}" if values else " n=0"
    )


# --- setup ------------------------------------------------------------------------------------


def create_world(args) -> dict:
    """Depots, vehicles, drivers and dispatchers with tokens, written in bulk (no password hashing)."""
    from benchmarks._django import describe_database, setup_django

    setup_django(args.database)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    from dispatch.models import Depot, Driver, Vehicle
    from dispatch.roles import DISPATCHER, DRIVER, ensure_role_groups

    ensure_role_groups()
    User = get_user_model()
    depots = [
        Depot.objects.create(code=f"D{i}", name=f"Depot {i}", lat=47.1 + i / 100, lon=9.5) for i in range(args.depots)
    ]
    vehicles = Vehicle.objects.bulk_create(
        [Vehicle(name=f"V{i:04d}", depot=depots[i % len(depots)], capacity_kg=500) for i in range(args.drivers)]
    )
    users = []
    for i in range(args.drivers):
        user = User(username=f"bench_driver_{i:04d}")
        user.set_unusable_password()
        users.append(user)
    for i in range(args.dashboards):
        user = User(username=f"bench_dispatcher_{i:02d}")
        user.set_unusable_password()
        users.append(user)
    users = User.objects.bulk_create(users)
    driver_users, dispatcher_users = users[: args.drivers], users[args.drivers :]
    Membership = User.groups.through
    driver_group, dispatcher_group = Group.objects.get(name=DRIVER), Group.objects.get(name=DISPATCHER)
    Membership.objects.bulk_create([Membership(user_id=u.id, group_id=driver_group.id) for u in driver_users])
    Membership.objects.bulk_create([Membership(user_id=u.id, group_id=dispatcher_group.id) for u in dispatcher_users])
    DepotDispatchers = Depot.dispatchers.through
    DepotDispatchers.objects.bulk_create(
        [DepotDispatchers(depot_id=depots[i % len(depots)].id, user_id=u.id) for i, u in enumerate(dispatcher_users)]
    )
    drivers = Driver.objects.bulk_create(
        [
            Driver(user=u, name=f"Driver {i}", depot=vehicles[i].depot, vehicle=vehicles[i])
            for i, u in enumerate(driver_users)
        ]
    )
    tokens = Token.objects.bulk_create([Token(user=u, key=Token.generate_key()) for u in users])
    key_by_user = {t.user_id: t.key for t in tokens}
    return {
        "database": describe_database(),
        "drivers": [
            {"id": d.id, "depot": d.depot_id, "token": key_by_user[u.id]}
            for d, u in zip(drivers, driver_users, strict=True)
        ],
        "dashboards": [
            {"depot": depots[i % len(depots)].id, "token": key_by_user[u.id]} for i, u in enumerate(dispatcher_users)
        ],
    }


def start_web(args) -> list[subprocess.Popen]:
    env = server_env(
        database=args.database,
        redis=args.redis,
        BENCH_LIVE_HANDLERS_ONLY="1" if args.live_handlers_only else "0",
    )
    log_dir = Path(os.environ.get("TMPDIR", "/tmp"))
    # The other listeners of a driver's move (ETAs, alerts, tracking) run in a worker, as in production.
    worker = start_celery_worker(env=env, log_path=log_dir / "live_fanout_celery.log")
    return start_daphne(
        application="benchmarks.live_fanout:application",
        ports=[args.port + index for index in range(args.web_processes + args.ws_processes)],
        env=env,
        log_prefix=log_dir / "live_fanout_daphne",
        env_of_index=lambda index: {
            "BENCH_PROFILE": str(log_dir / f"live_fanout_profile_{index}.txt") if args.profile else ""
        },
    ) + [worker]


def _task_backlog(redis_url: str) -> int:
    """Celery messages still waiting in the broker (the followups the worker has not caught up with)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    return sum(client.llen(queue) for queue in ("celery", "notifications"))


def _start_sampling_profiler(path: str, interval_s: float = 0.005) -> None:
    """Sample every thread's stack (daphne's loop and the view threads) and write, at exit, the
    functions found most often on a stack (inclusive) and on top of one (exclusive)."""
    import atexit
    import collections
    import threading

    inclusive, exclusive, samples = collections.Counter(), collections.Counter(), [0]

    def sample():
        own = threading.get_ident()
        while True:  # daemon thread: ends with the process
            time.sleep(interval_s)
            for ident, frame in sys._current_frames().items():
                if ident == own:
                    continue
                top = f"{frame.f_code.co_filename}:{frame.f_code.co_name}"
                if top.endswith(("threading.py:wait", "selectors.py:select", "queue.py:get", "thread.py:_worker")):
                    continue  # an idle thread
                samples[0] += 1
                exclusive[top] += 1
                seen = set()
                while frame is not None:
                    key = f"{frame.f_code.co_filename}:{frame.f_code.co_name}"
                    if key not in seen:
                        inclusive[key] += 1
                        seen.add(key)
                    frame = frame.f_back

    def dump():
        with open(path, "w") as out:
            out.write(f"{samples[0]} busy thread samples\n--- inclusive\n")
            for key, count in inclusive.most_common(80):
                out.write(f"{count / max(1, samples[0]):6.1%} {key}\n")
            out.write("--- exclusive\n")
            for key, count in exclusive.most_common(40):
                out.write(f"{count / max(1, samples[0]):6.1%} {key}\n")

    threading.Thread(target=sample, daemon=True, name="bench-profiler").start()
    atexit.register(dump)


def __getattr__(name):
    """`benchmarks.live_fanout:application` for daphne: the project's ASGI app, optionally with only
    the live handlers on the events (to measure the backbone without the other apps' listeners)."""
    if name != "application":
        raise AttributeError(name)
    from config.asgi import application

    if os.environ.get("BENCH_PROFILE"):
        _start_sampling_profiler(os.environ["BENCH_PROFILE"])

    if os.environ.get("BENCH_LIVE_HANDLERS_ONLY") == "1":
        from dispatch import events

        for event, paths in events.HANDLERS.items():
            events.HANDLERS[event] = tuple(p for p in paths if p.startswith("dispatch.live.broadcast."))
    return application


# --- clients ----------------------------------------------------------------------------------


class Dashboard:
    def __init__(self, index: int, depot: int):
        self.index, self.depot = index, depot
        self.latencies: list[float] = []
        self.latest: dict[int, float] = {}  # driver id -> newest recorded_at (epoch s) seen
        self.messages = 0
        self.snapshots = 0
        self.seqs: list[int] = []
        self.opened = None
        self.closed = False


def make_protocol_class():
    import txaio

    txaio.use_asyncio()
    from autobahn.asyncio.websocket import WebSocketClientProtocol

    class DashboardProtocol(WebSocketClientProtocol):
        dashboard: Dashboard

        def onOpen(self):
            self.factory.dashboard.opened.set_result(True)

        def onMessage(self, payload, is_binary):
            received = time.time()
            dashboard = self.factory.dashboard
            message = json.loads(payload)
            if message["type"] == "snapshot":
                dashboard.snapshots += 1
                return
            if message["type"] == "driver.position":
                positions = [message]
                dashboard.seqs.append(message["seq"])
            elif message["type"] == "driver.positions":  # a batch: seqs first_seq..seq
                positions = message["positions"]
                dashboard.seqs.extend(range(message["first_seq"], message["seq"] + 1))
            else:
                return
            for position in positions:
                dashboard.messages += 1
                recorded = datetime.fromisoformat(position["recorded_at"]).timestamp()
                dashboard.latencies.append(received - recorded)
                if recorded > dashboard.latest.get(position["driver"], 0):
                    dashboard.latest[position["driver"]] = recorded

        def onClose(self, was_clean, code, reason):
            dashboard = self.factory.dashboard
            dashboard.closed = True
            if not dashboard.opened.done():
                dashboard.opened.set_exception(ConnectionError(f"refused: {code} {reason}"))

    return DashboardProtocol


async def open_dashboard(protocol_class, dashboard: Dashboard, port: int, token: str, query: str):
    from autobahn.asyncio.websocket import WebSocketClientFactory

    loop = asyncio.get_running_loop()
    dashboard.opened = loop.create_future()
    factory = WebSocketClientFactory(
        f"ws://127.0.0.1:{port}/ws/dispatch/{query}",
        origin=f"http://{ORIGIN_HOST}:{port}",
        headers={"Authorization": f"Token {token}"},
    )
    factory.protocol = protocol_class
    factory.dashboard = dashboard
    transport, protocol = await loop.create_connection(factory, "127.0.0.1", port)
    await asyncio.wait_for(dashboard.opened, 20)
    return transport


async def drive(driver: dict, port: int, args, start: float, stats: dict) -> None:
    connection = HttpConnection(port)
    rounds = int(args.duration / args.interval)
    await asyncio.sleep(random.uniform(0, args.interval))
    first = time.monotonic()
    try:
        for round_index in range(rounds):  # bounded: duration / interval posts per driver
            due = first + round_index * args.interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            sent = time.time()
            body = {
                "positions": [
                    {
                        "lat": 47.05 + random.random() * 0.2,
                        "lon": 9.47 + random.random() * 0.1,
                        "recorded_at": datetime.fromtimestamp(sent, UTC).isoformat(),
                        "speed_mps": 8.0,
                        "heading": random.uniform(0, 360),
                        "accuracy_m": 5.0,
                    }
                ]
            }
            try:
                status = await asyncio.wait_for(
                    connection.post_json("/api/driver/positions/", body, driver["token"]), 30
                )
            except (TimeoutError, ConnectionError, OSError):
                stats["errors"] += 1
                connection.close()
                continue
            stats["post_latencies"].append(time.time() - sent)
            if status == 202:
                stats["accepted"] += 1
                stats["final"][driver["id"]] = max(stats["final"].get(driver["id"], 0), sent)
            else:
                stats["errors"] += 1
                stats["statuses"][status] = stats["statuses"].get(status, 0) + 1
    finally:
        connection.close()


def _lacking(dashboard: Dashboard, final: dict, depot_of: dict) -> list[int]:
    """Drivers of the dashboard's depot whose last accepted position it has not shown."""
    return [
        driver
        for driver, sent in final.items()
        if depot_of[driver] == dashboard.depot and abs(dashboard.latest.get(driver, 0) - sent) > 1e-3
    ]


async def run(args, world, processes) -> dict:
    ports = [args.port + i for i in range(args.web_processes)]
    # With --ws-processes the dashboards have daphne processes of their own (a proxy routes /ws/ there).
    ws_ports = [args.port + args.web_processes + i for i in range(args.ws_processes)] or ports
    for port in set(ports + ws_ports):
        await wait_for_server(port)
    protocol_class = make_protocol_class()
    dashboards = [Dashboard(i, d["depot"]) for i, d in enumerate(world["dashboards"])]
    transports = [
        await open_dashboard(
            protocol_class,
            dashboard,
            ws_ports[i % len(ws_ports)],
            world["dashboards"][i]["token"],
            "" if args.per_driver_frames else "?positions=batched",
        )  # fmt: skip
        for i, dashboard in enumerate(dashboards)
    ]
    stats = {"post_latencies": [], "accepted": 0, "errors": 0, "statuses": {}, "final": {}}
    own_pid = os.getpid()
    watched = {f"daphne[{i}]": p.pid for i, p in enumerate(processes[: args.web_processes + args.ws_processes])}
    worker_pids = process_tree(processes[-1].pid)
    watched.update({f"celery[{i}]": pid for i, pid in enumerate(worker_pids)})
    if not args.worker_same_priority:
        lower_priority(processes[-1].pid)
    postgres_before = sum(cpu_seconds(pid) for pid in service_pids("postgres"))
    watched.update({f"redis[{i}]": pid for i, pid in enumerate(service_pids("redis-server"))})
    watched["client"] = own_pid
    cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
    busy_before = system_busy_seconds()
    load_before = os.getloadavg()
    started = time.monotonic()
    await asyncio.gather(
        *(drive(driver, ports[i % len(ports)], args, started, stats) for i, driver in enumerate(world["drivers"]))
    )
    elapsed = time.monotonic() - started
    # Wait for the last positions (a trailing broadcast comes at most one window late; a backlog later).
    depot_of = {d["id"]: d["depot"] for d in world["drivers"]}
    drain_started = time.monotonic()
    while time.monotonic() - drain_started < args.drain:  # bounded by --drain
        if all(_lacking(dashboard, stats["final"], depot_of) == [] for dashboard in dashboards):
            break
        await asyncio.sleep(0.2)
    drained = time.monotonic() - drain_started
    cpu_after = {name: cpu_seconds(pid) for name, pid in watched.items()}
    postgres = sum(cpu_seconds(pid) for pid in service_pids("postgres")) - postgres_before
    backlog = _task_backlog(args.redis)
    busy = system_busy_seconds() - busy_before
    load_after = os.getloadavg()
    closed_early = sum(dashboard.closed for dashboard in dashboards)
    for transport in transports:
        transport.close()

    complete, missing = 0, 0
    for dashboard in dashboards:
        lacking = _lacking(dashboard, stats["final"], depot_of)
        missing += len(lacking)
        complete += not lacking
    latencies = [latency for dashboard in dashboards for latency in dashboard.latencies]
    return {
        "elapsed": elapsed,
        "stats": stats,
        "latencies": latencies,
        "dashboards": dashboards,
        "complete": complete,
        "missing": missing,
        "cpu": {n: cpu_after[n] - cpu_before[n] for n in watched}
        | {"postgres (all backends)": postgres, "whole machine (busy)": busy},
        "backlog": backlog,
        "closed_early": closed_early,
        "drained": drained,
        "load": (load_before, load_after),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drivers", type=int, default=500)
    parser.add_argument("--duration", type=float, default=60, help="seconds of posting")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between a driver's posts")
    parser.add_argument("--web-processes", type=int, default=2, help="daphne processes (consecutive ports)")
    parser.add_argument(
        "--ws-processes", type=int, default=0, help="extra daphne processes for the websockets only (0: shared)"
    )
    parser.add_argument("--dashboards", type=int, default=20)
    parser.add_argument("--depots", type=int, default=1, help="1: every dashboard sees every driver")
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--drain", type=float, default=30.0, help="at most this long to wait for the last messages")
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE))
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument(
        "--live-handlers-only",
        action="store_true",
        help="run only dispatch.live.broadcast's event handlers (not alerts, ETAs…)",
    )
    parser.add_argument(
        "--per-driver-frames",
        action="store_true",
        help="dashboards take one driver.position frame per position (default: driver.positions batches, as /live/)",
    )
    parser.add_argument(
        "--worker-same-priority", action="store_true", help="do not lower the Celery worker's CPU priority (nice 10)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="sample daphne's stacks into $TMPDIR/live_fanout_profile_N.txt"
    )
    parser.add_argument("--setup-into", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.database.startswith("postgres"):
        parser.error("the production stack needs a postgres:// --database")
    if not 1 <= args.web_processes <= 8 or args.duration <= 0 or args.drivers < 1:
        parser.error("--web-processes 1..8, --duration > 0, --drivers >= 1")

    if args.setup_into:
        # Django (with daphne's twisted reactor choice) is set up in this child only: the client side
        # below uses autobahn on asyncio, which cannot share a process with twisted-flavoured txaio.
        Path(args.setup_into).write_text(json.dumps(create_world(args)))
        return
    random.seed(7)
    print(f"setting up {args.drivers} drivers, {args.dashboards} dashboards, {args.depots} depot(s)…", flush=True)
    world_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"live_fanout_world_{os.getpid()}.json"
    subprocess.run([sys.executable, __file__, *sys.argv[1:], "--setup-into", str(world_file)], check=True)
    world = json.loads(world_file.read_text())
    world_file.unlink()
    flush_redis(args.redis)
    processes = start_web(args)
    try:
        result = asyncio.run(run(args, world, processes))
    finally:
        stop_web(processes)

    stats = result["stats"]
    expected_posts = args.drivers * int(args.duration / args.interval)
    print(
        f"\n{world['database']}, Redis {args.redis}, {args.web_processes} daphne process(es)"
        f"{f' + {args.ws_processes} for websockets' if args.ws_processes else ''}, {os.cpu_count()} cores, "
        f"{args.drivers} drivers every {args.interval} s, {args.dashboards} dashboards over {args.depots} depot(s)"
    )
    print(
        f"load average before {result['load'][0][0]:.2f}, after {result['load'][1][0]:.2f} (1 min; the machine is shared)"
    )
    print(
        f"positions: {stats['accepted']} accepted of {expected_posts} planned in {result['elapsed']:.1f} s "
        f"= {stats['accepted'] / result['elapsed']:.1f}/s; errors {stats['errors']} {stats['statuses'] or ''}"
    )
    print(f"POST → 202:             {_ms(stats['post_latencies'])}")
    print(f"POST sent → dashboard:  {_ms(result['latencies'])}")
    dashboards = result["dashboards"]
    # seq rises per group; here only driver.position messages flow, so a seq never seen was lost on the way.
    lost = sum((max(d.seqs) - min(d.seqs) + 1 - len(set(d.seqs))) if d.seqs else 0 for d in dashboards)
    out_of_order = sum(sum(1 for a, b in zip(d.seqs, d.seqs[1:]) if b < a) for d in dashboards)
    print(
        f"dashboard messages: {sum(d.messages for d in dashboards)} "
        f"({sum(d.messages for d in dashboards) / result['elapsed']:.0f}/s over {len(dashboards)} sockets), "
        f"seqs never received {lost}, arrived out of seq order {out_of_order}, closed early {result['closed_early']}"
    )
    print(
        f"final positions: {result['complete']}/{len(dashboards)} dashboards have every visible driver's last position"
        f" (missing {result['missing']} driver-dashboard pairs; waited {result['drained']:.1f} s after the last POST)"
    )
    print("CPU seconds during the run: " + ", ".join(f"{n} {s:.1f}" for n, s in result["cpu"].items()))
    print(f"Celery tasks still queued at the end (ETAs, alerts, tracking followups): {result['backlog']}")
    p99 = _percentile(result["latencies"], 0.99)
    print(f"target p99 < 500 ms with {args.drivers} drivers: {'met' if p99 < 0.5 else 'MISSED'} ({p99 * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
