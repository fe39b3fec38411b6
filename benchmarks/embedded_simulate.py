"""`make simulate` against the embedded mode: does the fleet keep up, and what does a position cost?

    .venv/bin/python benchmarks/embedded_simulate.py [--speed 10] [--duration 90] [--orders 300] [--profile]
        [--production-database postgres://... --production-redis redis://...] [--only-in-process]

All on 127.0.0.1 in a VAR_DIR of its own (SQLite, the in-memory channel layer, tasks on in-process
threads: what `make run` serves): the demo company (2 depots, 12 vehicles with drivers), --orders
demo orders of today without time windows and the vehicles' shifts around the clock (so the day can
be driven whatever the hour), planned and dispatched per depot. Then one daphne serves it as
`make run` does (DEBUG on, the embedded defaults), a dashboard socket watches /ws/dispatch/ as the
live map does, and the fleet simulator of `make simulate` drives every route through the API for
--duration seconds at --speed.

It prints the speed the simulation reached (simulated seconds per real second: `make simulate`
slows down when the server answers slowly), the server's CPU (share of one core, from /proc), the
CPU per position POST (all the server's CPU over the positions: actions and background work
included) and the requests' latency. Then the position request alone, in-process (the ASGI
application called directly): the embedded lean intake, the production lean path (on the PostgreSQL
and Redis of --production-database and --production-redis, $DATABASE_URL and $REDIS_URL by default)
and the embedded mode's Django view, back to back and paced, in one table. Targets (issue 14):
>= 9x at --speed 10 with 12 drivers, the server below 50 % of one core, the embedded request within
2-3x of the production lean path. --profile samples daphne with py-spy (pip install py-spy; not a project requirement) and prints
the functions where its time goes.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import time as clock
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _stack import cpu_seconds, percentile  # noqa: E402 - after the path is set

PORT = 8071


def _embedded_env(var_dir: str, **extra) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"VAR_DIR": var_dir, "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": "WARNING", **extra})
    return env


def _setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def prepare(args) -> None:
    """In a child process with the embedded settings: the company, today's orders, dispatched plans."""
    _setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from dispatch.demo.addresses import read_addresses
    from dispatch.demo.seeding import demo_orders_csv, demo_seed_company
    from dispatch.models import Order, Vehicle
    from dispatch.orders.importing import orders_import_csv
    from routes.models import Plan, RoadNetworkBuild
    from routes.network import build_network
    from routes.plans.optimization import plan_compute
    from routes.plans.services import plan_dispatch

    call_command("migrate", verbosity=0)
    network_dir = Path(settings.VAR_DIR) / "network"
    build_network(str(settings.DEMO_PBF), str(network_dir))
    RoadNetworkBuild.objects.create(source=str(settings.DEMO_PBF), path=str(network_dir), active=True)
    depots, vehicles = demo_seed_company()
    # A 5-hour shift from now (so every vehicle is needed) and no windows, so the day can be driven whatever the hour of the run;
    # after 15:00 the day is planned from 06:00 (the simulator drives the routes as planned, whatever
    # the clock: live ETAs then run late, and customers are told).
    now = timezone.localtime()
    start = now if now.hour < 15 else now.replace(hour=6, minute=0)
    Vehicle.objects.update(
        shift_start=clock(start.hour, start.minute), shift_end=clock(min(23, start.hour + 5), start.minute)
    )
    today = timezone.localdate()
    data = demo_orders_csv(
        day=today, count=args.orders, seed=5, addresses=read_addresses(settings.DEMO_PBF), depots=depots
    )
    orders_import_csv(data=data, user=None)
    Order.objects.filter(date=today).update(window_start=None, window_end=None)
    dispatcher = get_user_model().objects.get(username="dispatcher")
    request = {"time_budget_s": 5}
    if start is not now:
        request["clock"] = start.replace(second=0, microsecond=0).isoformat()
    for depot in depots:
        plan = Plan.objects.create(date=today, depot=depot, version=1, request={"depots": [depot.id], **request})
        plan = plan_compute(plan_id=plan.pk)
        plan = plan_dispatch(plan=plan, by=dispatcher)
        stops = sum(route.stops.count() for route in plan.routes.all())
        print(f"depot {depot.code}: plan {plan.pk}, {plan.routes.count()} routes, {stops} stops", flush=True)


def simulate(args) -> None:
    """In a child process with the embedded settings: `make simulate`'s fleet, for --duration seconds."""
    _setup_django()
    from django.utils import timezone

    from dispatch.demo.simulator import (
        Api,
        FleetSimulation,
        Options,
        dispatched_drivers,
        driver_tokens,
        simulated_drivers,
    )

    api = Api(f"http://127.0.0.1:{args.port}")
    latencies = []
    call = api.call

    def timed_call(method, path, **kwargs):
        started = time.perf_counter()
        try:
            return call(method, path, **kwargs)
        finally:
            latencies.append((path.startswith("/api/driver/positions/"), time.perf_counter() - started))

    api.call = timed_call
    drivers = dispatched_drivers(timezone.localdate())
    fleet = simulated_drivers(api, drivers, driver_tokens(drivers), log=lambda text: None)
    simulation = FleetSimulation(
        api, fleet, Options(speed=args.speed, max_minutes=args.duration / 60, seed=1), log=lambda text: None
    )
    started = time.monotonic()
    try:
        summary = simulation.run()
    except KeyboardInterrupt:  # stopped from outside (benchmarks/closure_reroute.py --busy): report so far
        summary = simulation.summary
        summary.real_seconds = time.monotonic() - started
        summary.requests, summary.errors = api.requests, api.errors
    positions = [s for is_position, s in latencies if is_position]
    others = [s for is_position, s in latencies if not is_position]
    print(json.dumps({
        "drivers": len(fleet), "sim_seconds": simulation.sim_seconds, "real_seconds": summary.real_seconds,
        "positions": summary.positions, "requests": summary.requests, "errors": summary.errors,
        "delivered": summary.delivered, "failed": summary.failed, "finished": summary.finished,
        "position_ms": [1000 * percentile(positions, q) for q in (0.5, 0.95, 0.99)],
        "action_ms": [1000 * percentile(others, q) for q in (0.5, 0.95)], "actions": len(others),
    }), flush=True)  # fmt: skip


def prepare_production(args) -> None:
    """In a child process with the production settings (--production-database, --production-redis):
    the demo company's drivers and their tokens, for the lean path's in-process figures."""
    _setup_django()
    from django.core.management import call_command
    from django.db import DatabaseError

    from dispatch.demo.seeding import demo_seed_company
    from dispatch.models import Driver

    try:  # prepared by an earlier run: only drivers and tokens are needed (no migrate to wait for)
        prepared = Driver.objects.filter(active=True).exists()
    except DatabaseError:
        prepared = False
    if not prepared:
        call_command("migrate", verbosity=0)
        demo_seed_company()
    print(f"production database: {Driver.objects.filter(active=True).count()} drivers", flush=True)


def in_process(args) -> None:
    """In a child process (embedded or production settings): the ASGI application called directly
    (no HTTP server, no other client), one position per POST as the simulator sends them, driver
    after driver, back to back (--pace 0) or --pace POSTs a second. CPU of the whole process per
    POST: the request, its broadcast tick and its writer thread or pool, and, unless the listeners
    are held back (LIVE_FOLLOWUP_EVERY_S), the background work it starts (the in-process task
    threads), waited for at the end."""
    _setup_django()
    from channels.testing import HttpCommunicator
    from django.utils import timezone

    from config.asgi import application
    from config.tasks import _embedded_queues
    from dispatch.demo.simulator import dispatched_drivers, driver_tokens
    from dispatch.live import position_intake
    from dispatch.live.position_fanout import fanout
    from dispatch.models import Driver

    # The embedded set-up has today's dispatched drivers; a production database may have none planned.
    drivers = dispatched_drivers(timezone.localdate()) or list(
        Driver.objects.filter(active=True).select_related("user")
    )
    tokens = list(driver_tokens(drivers).values())
    answered_by_django = []

    def saw(**kwargs):
        answered_by_django.append(True)

    from django.core.signals import request_started

    request_started.connect(saw)

    async def post(token: str, index: int) -> None:
        body = {"positions": [{"lat": 47.14 + index * 1e-5, "lon": 9.52, "recorded_at": timezone.now().isoformat(),
                               "accuracy_m": 5.0, "speed_mps": 8.0, "heading": 90.0}]}  # fmt: skip
        data = json.dumps(body).encode()
        communicator = HttpCommunicator(
            application, "POST", "/api/driver/positions/", body=data,
            headers=[(b"authorization", f"Token {token}".encode()), (b"content-type", b"application/json"),
                     (b"content-length", str(len(data)).encode()), (b"host", b"127.0.0.1")],
        )  # fmt: skip
        response = await communicator.get_response(timeout=30)
        assert response["status"] == 202, response

    async def settled():
        # The background work started so far (embedded task threads) and the last broadcast tick.
        for queue in list(_embedded_queues.values()):
            while queue.waiting() or queue.running:
                await asyncio.sleep(0.05)
        while fanout.pending:
            await asyncio.sleep(0.02)

    async def run():
        for index in range(20):  # warm up: imports, the road network, connections
            await post(tokens[index % len(tokens)], index)
        # Each driver's first move is followed up whatever LIVE_FOLLOWUP_EVERY_S says (the fan-out hands
        # it over at its next tick, within a second); its work (the road network loaded for live ETAs:
        # seconds) belongs to the warm-up, not to the posts measured.
        await asyncio.sleep(1.5)
        await settled()
        answered_by_django.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        for index in range(args.posts):
            await post(tokens[index % len(tokens)], index)
            if args.pace:
                await asyncio.sleep(1 / args.pace)
        request_wall = time.perf_counter() - wall
        await settled()
        used = time.process_time() - cpu
        await position_intake.shutdown()
        return used, request_wall

    used, seconds = asyncio.run(run())
    print(json.dumps({
        "posts": args.posts, "cpu_s": used, "seconds": seconds, "drivers": len(tokens),
        "via_django": len(answered_by_django),
    }), flush=True)  # fmt: skip


def _in_process_figures(args, env: dict, production_env: dict | None) -> list[dict]:
    """The position request's CPU, in-process, as a table: the embedded mode's lean intake, the
    production lean path (when a PostgreSQL and Redis are given) and the Django view (the intake
    off), each back to back and paced as the fleet posts; then the embedded request with its
    background work."""
    held_back = {"LIVE_FOLLOWUP_EVERY_S": "1000000000"}
    paths = [("embedded lean intake", env)]
    if production_env is not None:
        paths.append(("production lean path", production_env))
    paths.append(("embedded, Django view", {**env, "POSITION_INTAKE": "0"}))
    figures = []

    def measure(path_env, pace):
        measured = subprocess.run(
            [sys.executable, __file__, "--step", "in-process", "--posts", str(args.in_process), "--pace", str(pace)],
            cwd=ROOT, env=path_env, capture_output=True, text=True,
        )  # fmt: skip
        if measured.returncode != 0:
            print(measured.stderr[-3000:])
            raise SystemExit("the in-process measurement failed")
        found = json.loads(measured.stdout.strip().splitlines()[-1])
        found["ms"] = 1000 * found["cpu_s"] / found["posts"]
        return found

    pace = args.pace or 12.0
    for label, path_env in paths:
        back_to_back, paced = measure({**path_env, **held_back}, 0), measure({**path_env, **held_back}, pace)
        figures.append({"path": label, "back_to_back": back_to_back, "paced": paced})
    with_work = measure(env, pace)
    print(
        f"\nCPU per position request, in-process (the ASGI application called directly, {args.in_process} POSTs "
        f"of one position from {figures[0]['paced']['drivers']} drivers; the listeners of a move held back; "
        f"paced: {pace:g} POSTs/s, the fleet's rate at --speed 10; load average {os.getloadavg()[0]:.1f}):"
    )
    print(f"  {'path':<24} {'back to back':>13} {'paced':>9}   answered by Django")
    for figure in figures:
        print(
            f"  {figure['path']:<24} {figure['back_to_back']['ms']:>10.2f} ms {figure['paced']['ms']:>6.2f} ms   "
            f"{figure['back_to_back']['via_django'] + figure['paced']['via_django']} of {2 * args.in_process}"
        )
    if production_env is not None:
        embedded, production = figures[0], figures[1]
        print(
            f"  embedded / production: {embedded['back_to_back']['ms'] / production['back_to_back']['ms']:.1f}x back "
            f"to back, {embedded['paced']['ms'] / production['paced']['ms']:.1f}x paced (target <= 2-3x)"
        )
    print(
        f"  embedded lean intake with the background work it starts (live ETAs, customer messages): "
        f"{with_work['ms']:.2f} ms per position"
    )
    return figures


def _production_env(args) -> dict | None:
    """The production settings for the lean path's figures, its database prepared; None without one."""
    if not (args.production_database and args.production_database.startswith("postgres") and args.production_redis):
        return None
    env = {
        **os.environ, "DATABASE_URL": args.production_database, "REDIS_URL": args.production_redis,
        "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": "WARNING",
    }  # fmt: skip
    subprocess.run([sys.executable, __file__, "--step", "prepare-production"], cwd=ROOT, env=env, check=True)
    return env


def _dashboard(token: str, received: Counter, stop: threading.Event) -> None:
    """A live map's socket: counts what it is sent (a server that cannot keep up falls behind here too)."""
    from autobahn.asyncio.websocket import WebSocketClientFactory, WebSocketClientProtocol

    class Dashboard(WebSocketClientProtocol):
        def onMessage(self, payload, is_binary):  # noqa: N802 - autobahn's name
            message = json.loads(payload)
            received[message.get("type")] += len(message.get("positions", [])) or 1

    async def run():
        factory = WebSocketClientFactory(
            f"ws://127.0.0.1:{PORT}/ws/dispatch/?positions=batched",
            headers={"Authorization": f"Token {token}"}, origin=f"http://127.0.0.1:{PORT}",
        )  # fmt: skip
        factory.protocol = Dashboard
        transport, _ = await asyncio.get_running_loop().create_connection(factory, "127.0.0.1", PORT)
        while not stop.is_set():
            await asyncio.sleep(0.2)
        transport.close()

    asyncio.run(run())


def _dispatcher_token(env: dict) -> str:
    code = (
        "import django; django.setup(); from rest_framework.authtoken.models import Token;"
        "from django.contrib.auth import get_user_model;"
        "print(Token.objects.get_or_create(user=get_user_model().objects.get(username='dispatcher'))[0].key)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()[-1]


def _profile_summary(raw: Path, top: int = 25) -> None:
    """py-spy's raw (collapsed) stacks: the functions holding the most samples, inclusive and own."""
    inclusive, own, total = Counter(), Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        count = int(count)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    print(f"\nprofile: {total} samples of daphne's threads (idle threads waiting count too)")
    print("  inclusive:")
    for frame, count in inclusive.most_common(top):
        print(f"    {100 * count / total:5.1f} %  {frame}")
    print("  own:")
    for frame, count in own.most_common(top):
        print(f"    {100 * count / total:5.1f} %  {frame}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=90.0, help="real seconds of simulation")
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="sample daphne with py-spy")
    parser.add_argument("--var-dir", help="reuse a directory prepared by an earlier run (skips the set-up)")
    parser.add_argument(
        "--in-process", type=int, default=300, metavar="POSTS",
        help="also call the ASGI application directly this many times (CPU per position without HTTP); 0: skip",
    )  # fmt: skip
    parser.add_argument(
        "--production-database", metavar="URL", default=os.environ.get("DATABASE_URL"),
        help="a PostgreSQL database of your own (default: $DATABASE_URL) for the production lean path's figures "
        "in the same run; it is migrated and gets the demo company's drivers when it has none",
    )  # fmt: skip
    parser.add_argument(
        "--production-redis", metavar="URL", default=os.environ.get("REDIS_URL"),
        help="a Redis database of your own (default: $REDIS_URL), with --production-database",
    )  # fmt: skip
    parser.add_argument("--pace", type=float, default=0.0, help="in-process POSTs a second (default: 12, then 0)")
    parser.add_argument("--only-in-process", action="store_true", help="skip the simulation: the in-process figures")
    parser.add_argument("--posts", type=int, default=300, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=PORT, help=argparse.SUPPRESS)
    parser.add_argument(
        "--step", choices=["prepare", "prepare-production", "simulate", "in-process"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.step == "prepare":
        return prepare(args)
    if args.step == "simulate":
        return simulate(args)
    if args.step == "in-process":
        return in_process(args)
    if args.step == "prepare-production":
        return prepare_production(args)
    if args.in_process and args.only_in_process:
        var_dir = args.var_dir or tempfile.mkdtemp(prefix="bench-embedded-")
        env = _embedded_env(var_dir)
        if not args.var_dir:
            subprocess.run(
                [sys.executable, __file__, "--step", "prepare", "--orders", str(args.orders)], cwd=ROOT, env=env,
                check=True,
            )  # fmt: skip
        _in_process_figures(args, env, _production_env(args))
        return None

    var_dir = args.var_dir or tempfile.mkdtemp(prefix="bench-embedded-")
    env = _embedded_env(var_dir)
    if not args.var_dir:
        subprocess.run(
            [sys.executable, __file__, "--step", "prepare", "--orders", str(args.orders)], cwd=ROOT, env=env, check=True
        )
    token = _dispatcher_token(env)
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(PORT), "config.asgi:application"],
        cwd=ROOT, env=env, stdout=open(Path(var_dir) / "daphne.log", "ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    stop, received, profiler = threading.Event(), Counter(), None
    try:
        deadline = time.monotonic() + 60
        import urllib.request

        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"daphne did not start: see {var_dir}/daphne.log"
                time.sleep(0.3)
        dashboard = threading.Thread(target=_dashboard, args=(token, received, stop), daemon=True)
        dashboard.start()
        time.sleep(2)
        raw = Path(var_dir) / "profile.txt"
        if args.profile:
            profiler = subprocess.Popen(
                ["py-spy", "record", "--pid", str(server.pid), "--format", "raw", "--rate", "100", "--threads",
                 "--output", str(raw), "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        cpu_before, load_before = cpu_seconds(server.pid), os.getloadavg()[0]
        simulation = subprocess.run(
            [sys.executable, __file__, "--step", "simulate", "--speed", str(args.speed), "--duration",
             str(args.duration)], cwd=ROOT, env=env, capture_output=True, text=True,
        )  # fmt: skip
        cpu_used = cpu_seconds(server.pid) - cpu_before
        if simulation.returncode != 0:
            print(simulation.stderr[-3000:])
            raise SystemExit("the simulation failed")
        result = json.loads(simulation.stdout.strip().splitlines()[-1])
        time.sleep(1)
    finally:
        stop.set()
        if profiler is not None:
            profiler.send_signal(2)
            profiler.wait(timeout=30)
        server.terminate()
        server.wait(timeout=20)
    speed = result["sim_seconds"] / result["real_seconds"]
    share = cpu_used / result["real_seconds"]
    per_position_ms = 1000 * cpu_used / max(1, result["positions"])
    print(
        f"embedded mode, {result['drivers']} drivers at --speed {args.speed:g} for {result['real_seconds']:.0f} s "
        f"(load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}; the machine is shared):\n"
        f"  reached {speed:.1f}x (target >= {0.9 * args.speed:g}x: {'met' if speed >= 0.9 * args.speed else 'MISSED'})\n"
        f"  daphne CPU {cpu_used:.1f} s = {100 * share:.0f} % of one core (target < 50 %: "
        f"{'met' if share < 0.5 else 'MISSED'})\n"
        f"  {result['positions']} positions, {result['actions']} other requests ({result['delivered']} delivered, "
        f"{result['failed']} failed), {result['errors']} refused\n"
        f"  CPU per position: {per_position_ms:.2f} ms (the whole server's CPU over the positions; the production "
        f"lean path: 0.5 ms)\n"
        f"  position POST p50/p95/p99 {'/'.join(f'{v:.0f}' for v in result['position_ms'])} ms; other requests "
        f"p50/p95 {'/'.join(f'{v:.0f}' for v in result['action_ms'])} ms\n"
        f"  dashboard socket received {received.get('driver.position', 0) + received.get('driver.positions', 0)} "
        f"positions, {sum(received.values())} messages in all\n"
        f"  set-up kept in {var_dir} (--var-dir {var_dir} runs again on it)"
    )
    if args.profile and (Path(var_dir) / "profile.txt").exists():
        _profile_summary(Path(var_dir) / "profile.txt")
    if args.in_process:
        _in_process_figures(args, env, _production_env(args))


if __name__ == "__main__":
    main()
