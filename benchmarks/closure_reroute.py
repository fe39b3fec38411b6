"""From POST /api/closures/ to `plan.updated` on a dashboard socket, on the production stack.

    .venv/bin/python benchmarks/closure_reroute.py [--trials 7] [--orders 300] [--busy [--speed 10]] [--embedded]

All on 127.0.0.1: a PostgreSQL database of its own (dispatch_bench_closure, emptied), a Redis
database of its own (redis://127.0.0.1:6379/8, emptied), one daphne web process and one Celery
worker (2 pool processes), the demo region's road network. A demo day of --orders stops over the
demo fleet (12 vehicles, two depots) is planned and dispatched; then each trial closes a short
stretch of a road one of today's routes drives next (a 60 m square on the route between two stops),
and times how long until the dispatcher's socket receives the new plan version; the closure is then
lifted (which re-plans again) before the next trial. Prints every trial and the median.
Target (issue 6): median <= 3 s on this 2-core machine.

--busy (issue 14): the disruption lands on a busy day. The demo day is laid out so that all 12
vehicles drive (5-hour shifts from now, no windows: whatever the hour of the run), and `make
simulate`'s fleet drives every route through the API at --speed while the trials run (12 drivers
posting positions, arriving, delivering; live ETAs and customer messages flowing). Each trial's
answer is the dashboard's `plan.updated`, or the dispatcher's alert when the guard rails made the
re-plan a proposal (routes.plans.proposals, an alert of kind replan_proposal); each closure stays
--hold seconds (20) before it is lifted (lifting repairs the routes it changed, or withdraws its
proposal). Printed: median and p95, stops the new versions took off their routes (dropped, with their
reasons), and, of the customers whose stop an applied version changed, those owed a message (taken off;
or the new ETA left the promise they had just before the closure, read then, by more than
ETA_DELAY_THRESHOLD_MIN) and how many of them got it within 60 s of the closure.

--embedded: the same on the embedded mode (`make run`: one daphne, SQLite, the in-memory layer,
tasks on in-process threads) instead of PostgreSQL, Redis and a Celery worker.
"""

import argparse
import asyncio
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import time as clock
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = "postgres://postgres@127.0.0.1:5432/dispatch_bench_closure"
REDIS_URL = "redis://127.0.0.1:6379/8"
PORT = 8061


def prepare(args) -> dict:
    """Runs in a child process (Django set up there; the parent stays free for the asyncio client)."""
    os.environ.update({"VAR_DIR": os.environ["BENCH_VAR_DIR"], "TASKS_RUN_INLINE": "1"})
    sys.path.insert(0, str(ROOT / "benchmarks"))
    if args.embedded:
        for name in ("DATABASE_URL", "REDIS_URL"):
            os.environ.pop(name, None)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        sys.path.insert(0, str(ROOT))
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
    else:
        from _django import setup_django

        setup_django(DATABASE_URL)
    from django.conf import settings
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from dispatch.demo.addresses import read_addresses
    from dispatch.demo.seeding import demo_orders_csv, demo_seed_company
    from dispatch.models import Vehicle
    from dispatch.orders.importing import orders_import_csv
    from routes.models import Plan, RoadNetworkBuild
    from routes.network import build_network
    from routes.plans.optimization import plan_compute
    from routes.plans.services import plan_dispatch

    network_dir = Path(os.environ["VAR_DIR"]) / "network"
    build_network(str(settings.DEMO_PBF), str(network_dir))
    RoadNetworkBuild.objects.create(source=str(settings.DEMO_PBF), path=str(network_dir), active=True)
    depots, vehicles = demo_seed_company()
    now = timezone.localtime()
    if args.busy:
        # A working day of 5 hours from now (so every vehicle is needed) and no windows: the fleet can
        # drive it whatever the hour of the run.
        # (Late in the evening fewer hours are left: then fewer vehicles drive.)
        end = min(now.hour * 60 + now.minute + 5 * 60, 23 * 60 + 55)
        Vehicle.objects.update(shift_start=clock(now.hour, now.minute), shift_end=clock(end // 60, end % 60))
    else:
        # Working hours around the clock, so that "now" is always inside today's routes.
        Vehicle.objects.update(shift_start=clock(0, 5), shift_end=clock(23, 55))
    today = timezone.localdate()
    data = demo_orders_csv(
        day=today, count=args.orders, seed=5, addresses=read_addresses(settings.DEMO_PBF), depots=depots
    )
    orders_import_csv(data=data, user=None)
    if args.busy:
        from dispatch.models import Order

        Order.objects.filter(date=today).update(window_start=None, window_end=None)
    from django.contrib.auth import get_user_model

    dispatcher = get_user_model().objects.get(username="dispatcher")
    plans = []
    for depot in depots:
        plan = Plan.objects.create(
            date=today, depot=depot, version=1, request={"depots": [depot.id], "time_budget_s": 10}
        )
        plan = plan_compute(plan_id=plan.pk)
        plans.append(plan_dispatch(plan=plan, by=dispatcher))
    token = Token.objects.get_or_create(user=dispatcher)[0].key
    busy_points = []
    for plan in plans:
        for route in plan.routes.all():
            coordinates = route.geometry["coordinates"]
            stops = [(s.order.lat, s.order.lon) for s in route.stops.select_related("order")]
            # In the second half of the route (ahead of the van), away from the stops: the middle of a
            # stretch shorter than 40 m, so that the 60 m square covers the road on both sides of it.
            half = coordinates[len(coordinates) // 2 :]
            for (lon_a, lat_a), (lon_b, lat_b) in zip(half, half[1:]):
                lat, lon = (lat_a + lat_b) / 2, (lon_a + lon_b) / 2
                short = math.dist(
                    (lat_a, lon_a * math.cos(math.radians(lat))), (lat_b, lon_b * math.cos(math.radians(lat)))
                )
                if 0 < short * 111_320 < 40 and min(math.dist((lat, lon), s) for s in stops) > 0.002:
                    busy_points.append((lat, lon))
                    break
    print(
        f"demo day: {args.orders} orders, {Vehicle.objects.count()} vehicles, plans {[p.pk for p in plans]}", flush=True
    )
    return {"token": token, "points": busy_points}


def server_environment(args) -> dict:
    policy = {}
    if args.auto_apply_eta_min is not None:
        policy["REPLAN_AUTO_APPLY_MAX_ETA_SHIFT_MIN"] = str(args.auto_apply_eta_min)
    if args.embedded:  # what `make run` serves: DEBUG on, SQLite, the in-memory layer, in-process tasks
        env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
        return {**env, "VAR_DIR": os.environ["BENCH_VAR_DIR"], "LOG_LEVEL": "WARNING",
                "DJANGO_SETTINGS_MODULE": "config.settings", **policy}  # fmt: skip
    return {**policy, **os.environ, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL, "CELERY_NOTIFICATION_QUEUE": "notifications", "DEBUG": "0", "SECRET_KEY": "b" * 60, "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0", "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "config.settings"}  # fmt: skip


def start_processes(args) -> list[subprocess.Popen]:
    env = server_environment(args)
    bin_dir = Path(sys.executable).parent
    logs = Path(os.environ["BENCH_VAR_DIR"])
    if args.embedded:
        web = subprocess.Popen(
            [str(bin_dir / "daphne"), "-b", "127.0.0.1", "-p", str(PORT), "config.asgi:application"], cwd=ROOT,
            env=env, stdout=open(logs / "web.log", "ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        print(f"log of the embedded daphne: {logs}/web.log", flush=True)
        return [web]
    web = subprocess.Popen(
        [str(bin_dir / "daphne"), "-b", "127.0.0.1", "-p", str(PORT), "config.asgi:application"], cwd=ROOT, env=env,
        stdout=open(logs / "web.log", "ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-c", "2", "-l", "warning", "--without-gossip",
         "--without-mingle", "-Q", "plans,live,notifications,celery"], cwd=ROOT, env=env, stdout=open(logs / "worker.log", "ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    print(f"logs of daphne and the worker: {logs}/web.log, {logs}/worker.log", flush=True)
    return [web, worker]


def api(method: str, path: str, token: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}{path}", method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
    return json.loads(raw) if raw else {}


def square(lat, lon, half_m=30):
    dlat, dlon = half_m / 111_320, half_m / (111_320 * math.cos(math.radians(lat)))
    ring = [[lon - dlon, lat - dlat], [lon + dlon, lat - dlat], [lon + dlon, lat + dlat], [lon - dlon, lat + dlat]]
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}


def _is_proposal(message: dict) -> bool:
    # The guard rails' alert for a re-plan left to the dispatcher (routes.plans.proposals).
    return message.get("type") == "alert" and not message.get("resolved") and message.get("kind") == "replan_proposal"


async def run_trials(args, world) -> list[dict]:
    """Each trial: {"closure", "posted_at" (epoch), "seconds" (None: no answer in 60 s), "answer"
    ("plan.updated" or "proposal"), "changes" (of plan.updated)}."""
    from autobahn.asyncio.websocket import WebSocketClientFactory, WebSocketClientProtocol

    updates: asyncio.Queue = asyncio.Queue()
    withdrawn: asyncio.Queue = asyncio.Queue()

    opened = asyncio.Event()

    class Dashboard(WebSocketClientProtocol):
        def onOpen(self):  # noqa: N802 - autobahn's name
            opened.set()

        def onClose(self, was_clean, code, reason):  # noqa: N802
            print(f"dashboard socket closed: {code} {reason}", flush=True)

        def onMessage(self, payload, is_binary):  # noqa: N802
            message = json.loads(payload)
            if message.get("type") == "plan.updated" or _is_proposal(message):
                updates.put_nowait((time.perf_counter(), message))
            elif message.get("type") == "alert" and message.get("kind") == "replan_proposal":
                withdrawn.put_nowait((time.perf_counter(), message))  # resolved: decided or withdrawn

    factory = WebSocketClientFactory(
        f"ws://127.0.0.1:{PORT}/ws/dispatch/?positions=batched", headers={"Authorization": f"Token {world['token']}"},
        origin=f"http://127.0.0.1:{PORT}",
    )  # fmt: skip
    factory.protocol = Dashboard
    loop = asyncio.get_running_loop()
    await loop.create_connection(factory, "127.0.0.1", PORT)
    await asyncio.wait_for(opened.wait(), timeout=30)
    trials = []
    for trial in range(args.trials):
        lat, lon = world["points"][trial % len(world["points"])]
        # What each customer was promised just before the closure: whom a new version owes a message.
        promises_file = Path(os.environ["BENCH_VAR_DIR"]) / f"promises-{trial}.json"
        await asyncio.to_thread(snapshot_promises, args, promises_file)
        while not updates.empty():
            updates.get_nowait()
        posted_at, started = time.time(), time.perf_counter()
        closure = await asyncio.to_thread(
            api,
            "POST",
            "/api/closures/",
            world["token"],
            {"geometry": square(lat, lon), "reason": f"benchmark {trial}"},
        )
        result = {"closure": closure["id"], "posted_at": posted_at, "seconds": None, "answer": None, "changes": {},
                  "promises": str(promises_file)}  # fmt: skip
        try:
            received, message = await asyncio.wait_for(updates.get(), timeout=60)
            kind = "plan.updated" if message["type"] == "plan.updated" else "proposal"
            result.update(seconds=received - started, answer=kind, changes=message.get("changes") or {})
            removed = len(result["changes"].get("removed") or [])
            print(f"trial {trial + 1}: closure {closure['id']} -> {kind} (plan {message.get('plan') or message.get('data', {}).get('plan')}, "
                  f"version {message.get('version') or message.get('data', {}).get('version')}) after {received - started:.2f} s"
                  f"{f', {removed} stops taken off' if removed else ''}", flush=True)  # fmt: skip
        except TimeoutError:
            print(f"trial {trial + 1}: no plan.updated within 60 s (closure {closure['id']})", flush=True)
        trials.append(result)
        # The closure stays a while, as a real one would: lifted at once, its version was replaced
        # seconds later and customers were owed nothing for it any more (only the latest matters).
        await asyncio.sleep(args.hold)
        lift_started = time.perf_counter()
        while not withdrawn.empty():
            withdrawn.get_nowait()
        await asyncio.to_thread(api, "DELETE", f"/api/closures/{closure['id']}/", world["token"])
        # Lifting repairs only the routes the closure's applied re-plan changed; one it only proposed
        # is withdrawn (its alert resolves) and nothing else changes.
        if result["answer"] == "proposal":
            try:
                received, _ = await asyncio.wait_for(withdrawn.get(), timeout=30)
                print(f"          lifted -> the proposal withdrawn after {received - lift_started:.2f} s", flush=True)
            except TimeoutError:
                print("          lifted -> the proposal still open after 30 s", flush=True)
        else:
            try:
                received, _ = await asyncio.wait_for(updates.get(), timeout=60)
                print(f"          lifted -> answer after {received - lift_started:.2f} s", flush=True)
            except TimeoutError:
                print("          lifted -> no plan.updated within 60 s", flush=True)
        await asyncio.sleep(1)
    return trials


def snapshot_promises(args, path: Path) -> None:
    """The promised windows as they stand (a child process with the server's settings)."""
    subprocess.run(
        [sys.executable, __file__, "--snapshot", str(path)], cwd=ROOT, env=server_environment(args), check=True,
        capture_output=True,
    )  # fmt: skip


def snapshot(path: str) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from customers.models import PromisedWindow

    promises = {
        order_id: [start.isoformat(), end.isoformat()]
        for order_id, start, end in PromisedWindow.objects.values_list("order_id", "start", "end")
    }
    Path(path).write_text(json.dumps(promises))


def report(args) -> None:
    """In a child process with the server's settings: what the re-plans of the trials did to stops and
    customers (read from the database after the run)."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from datetime import UTC, datetime, timedelta

    from django.conf import settings

    from customers.models import Notification
    from routes.models import ClosureApplication, Plan, Stop, UnassignedOrder

    trials = json.loads(Path(args.report).read_text())
    threshold = timedelta(minutes=settings.ETA_DELAY_THRESHOLD_MIN)
    dropped = []
    # Whom an applied version owes a message, judged as customers.services does (not by its ETA moving:
    # a fleet at 10x moves every planned ETA, while the customer's promise follows the live ETAs):
    # a stop taken off the routes is owed "we will reschedule"; a stop whose new ETA left the promise
    # it had just before the closure by more than ETA_DELAY_THRESHOLD_MIN a new window ("delayed"), one
    # never promised its first window ("scheduled"); any other changed stop nothing. "told": such a
    # message created within 60 s of the closure; "needless": a delay message to a changed customer
    # who was owed none.
    counts = {"changed": 0, "owed": 0, "told": 0, "removed": 0, "removed_told": 0, "needless": 0}
    late, events = [], {}
    for trial in trials:
        posted = datetime.fromtimestamp(trial["posted_at"], UTC)
        applications = ClosureApplication.objects.filter(closure_id=trial["closure"], phase="change", version=1)
        new_plans = [pk for application in applications for pk in application.new_plans]
        for plan in Plan.objects.filter(pk__in=new_plans).select_related("parent"):
            before = set(UnassignedOrder.objects.filter(plan=plan.parent).values_list("order_id", flat=True))
            for item in UnassignedOrder.objects.filter(plan=plan).exclude(order_id__in=before):
                dropped.append((plan.state, item.code, item.reason))
        if trial.get("answer") != "plan.updated":
            continue
        promises = json.loads(Path(trial["promises"]).read_text()) if trial.get("promises") else {}
        changes = trial.get("changes") or {}
        removed = set(changes.get("removed") or [])
        changed = ({int(o) for o in (changes.get("eta_changes") or {})} | set(changes.get("moved") or [])) - removed
        applied = [pk for pk in new_plans if Plan.objects.filter(pk=pk, dispatched_at__isnull=False).exists()]
        new_eta = dict(
            Stop.objects.filter(route__plan_id__in=applied[:1], order_id__in=changed).values_list("order_id", "eta")
        )
        owed = {order_id: "rescheduled" for order_id in removed}
        for order_id in changed:
            promise = promises.get(str(order_id))
            eta = new_eta.get(order_id)
            if eta is None:
                continue
            if promise is None:
                owed[order_id] = "scheduled"
            elif not (
                datetime.fromisoformat(promise[0]) - threshold <= eta <= datetime.fromisoformat(promise[1]) + threshold
            ):
                owed[order_id] = "delayed"
        window = {"created_at__gte": posted, "created_at__lte": posted + timedelta(seconds=60)}
        told = Notification.objects.filter(order_id__in=removed | changed, **window)
        for event in told.values_list("event", flat=True):
            events[event] = events.get(event, 0) + 1
        told_events = {}
        for order_id, event in told.values_list("order_id", "event"):
            told_events.setdefault(order_id, set()).add(event)
        counts["changed"] += len(changed | removed)
        counts["owed"] += len(owed)
        counts["removed"] += len(removed)
        for order_id, event in owed.items():
            if event in told_events.get(order_id, set()):
                counts["told"] += 1
                counts["removed_told"] += event == "rescheduled"
            else:
                late.append((order_id, event))
        counts["needless"] += sum(
            1 for order_id in changed if order_id not in owed and "delayed" in told_events.get(order_id, set())
        )
    counts["not_told"] = late[:20]
    print(json.dumps({"dropped": dropped, **counts, "events": events}, default=str))


def _start_fleet(args, env) -> subprocess.Popen:
    """`make simulate`'s fleet (benchmarks/embedded_simulate.py's simulate step) against this server."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "embedded_simulate.py"), "--step", "simulate", "--speed",
         str(args.speed), "--duration", "1800", "--port", str(PORT)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=open(Path(os.environ["BENCH_VAR_DIR"]) / "fleet.log", "ab"), text=True,
    )  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--busy", action="store_true", help="the fleet simulator drives the day during the trials")
    parser.add_argument("--speed", type=float, default=10.0, help="the fleet's speed with --busy")
    parser.add_argument("--warm-up", type=float, default=30.0, help="seconds the fleet drives before the first trial")
    parser.add_argument("--embedded", action="store_true", help="the embedded mode instead of the production stack")
    parser.add_argument(
        "--hold", type=float, default=None, metavar="S",
        help="seconds each closure stays before it is lifted (default: 20 with --busy, so that its customers "
        "are told before the lift replaces the version; 0 without)",
    )  # fmt: skip
    parser.add_argument(
        "--auto-apply-eta-min", type=int, metavar="MIN",
        help="the guard rails' REPLAN_AUTO_APPLY_MAX_ETA_SHIFT_MIN for the server (default: the setting's, 15). "
        "A fleet simulated at 10x runs hours ahead of its plan, so every re-plan shifts ETAs by hours and "
        "becomes a proposal; a large value measures the re-plans that apply by themselves",
    )  # fmt: skip
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hold is None:
        args.hold = 20.0 if args.busy else 0.0
    if args.prepare:
        print(json.dumps(prepare(args)))
        return
    if args.report:
        report(args)
        return
    if args.snapshot:
        snapshot(args.snapshot)
        return
    os.environ["BENCH_VAR_DIR"] = tempfile.mkdtemp(prefix="bench-closure-")
    flags = ["--busy"] if args.busy else []
    flags += ["--embedded"] if args.embedded else []
    prepared = subprocess.run(
        [sys.executable, __file__, "--prepare", "--orders", str(args.orders), *flags],
        capture_output=True,
        text=True,
    )
    if prepared.returncode != 0:
        print(prepared.stderr[-4000:])
        raise SystemExit("preparing the day failed")
    for line in prepared.stdout.strip().splitlines()[:-1]:
        print(line)
    world = json.loads(prepared.stdout.strip().splitlines()[-1])
    if not world["points"]:
        raise SystemExit(
            "no route to close a road on: today's routes start from now, and too little of the day is left "
            "(run it before 20:00 local time)"
        )
    mode = "the embedded mode (one daphne, SQLite)" if args.embedded else "daphne and a Celery worker"
    print(f"prepared: {len(world['points'])} candidate road points; starting {mode}", flush=True)
    if not args.embedded:
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
    os.environ["VAR_DIR"] = os.environ["BENCH_VAR_DIR"]
    processes = start_processes(args)
    fleet, fleet_result = None, None
    load_before = os.getloadavg()[0]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        time.sleep(3)  # let the worker connect
        if args.busy:
            fleet = _start_fleet(args, server_environment(args))
            print(f"the fleet drives at {args.speed:g}x; first closure in {args.warm_up:g} s", flush=True)
            time.sleep(args.warm_up)
            assert fleet.poll() is None, f"the fleet stopped: see {os.environ['BENCH_VAR_DIR']}/fleet.log"
        load_before = os.getloadavg()[0]
        trials = asyncio.run(run_trials(args, world))
    finally:
        if fleet is not None:
            fleet.send_signal(signal.SIGINT)  # the simulation prints its summary on the way out
            try:
                out, _ = fleet.communicate(timeout=30)
                fleet_result = out.strip().splitlines()[-1] if out.strip() else None
            except subprocess.TimeoutExpired:
                fleet.kill()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    timings = [t["seconds"] for t in trials if t["seconds"] is not None]
    load = f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} (the machine is shared)"
    if not timings:
        print(f"no answer to any closure within 60 s; {load}")
        return
    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    answers = {kind: sum(1 for t in trials if t["answer"] == kind) for kind in ("plan.updated", "proposal")}
    print(f"{'busy day, ' if args.busy else ''}{'embedded' if args.embedded else 'production'}: closure -> answer on "
          f"the dashboard: median {statistics.median(timings):.2f} s, p95 {p95:.2f} s, min {min(timings):.2f} s, "
          f"max {max(timings):.2f} s over {len(timings)} of {len(trials)} trials ({answers['plan.updated']} "
          f"plan.updated, {answers['proposal']} proposals); target median <= 3 s: "
          f"{'met' if statistics.median(timings) <= 3 else 'MISSED'}; {load}")  # fmt: skip
    applied = sorted(t["seconds"] for t in trials if t["answer"] == "plan.updated")
    if applied:
        print(f"  closure -> plan.updated alone: median {statistics.median(applied):.2f} s, "
              f"p95 {applied[min(len(applied) - 1, round(0.95 * (len(applied) - 1)))]:.2f} s over {len(applied)}")  # fmt: skip
    trials_file = Path(os.environ["BENCH_VAR_DIR"]) / "trials.json"
    trials_file.write_text(json.dumps(trials))
    env = server_environment(args)
    found = subprocess.run(
        [sys.executable, __file__, "--report", str(trials_file)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if found.returncode != 0:
        print(found.stderr[-3000:])
        return
    summary = json.loads(found.stdout.strip().splitlines()[-1])
    reasons = {}
    for _state, code, _reason in summary["dropped"]:
        reasons[code or "?"] = reasons.get(code or "?", 0) + 1
    proposed = sum(1 for state, _code, _reason in summary["dropped"] if state == "proposed")
    print(f"  stops dropped by the re-plans: {len(summary['dropped'])} (target 0 unless unreachable)"
          f"{': ' + ', '.join(f'{n} {code}' for code, n in reasons.items()) if reasons else ''}"
          f"{f'; {proposed} of them only proposed (applied when a dispatcher approves)' if proposed else ''}")  # fmt: skip
    print(f"  customers of applied versions: {summary['changed']} whose stop changed, {summary['owed']} of them owed a "
          f"message ({summary['removed']} taken off: \"we will reschedule\"; the others' new ETA left their promise): "
          f"{summary['told']} of {summary['owed']} told within 60 s of the closure ({summary['removed_told']} of "
          f"{summary['removed']} rescheduled); {summary['needless']} not owed one by the new version were told of a delay all the same (by their live ETAs); every message to "
          f"changed customers in that minute: {summary['events'] or 'none'}"
          f"{'; not told: ' + str(summary['not_told']) if summary['not_told'] else ''}")  # fmt: skip
    if fleet_result:
        try:
            fleet_summary = json.loads(fleet_result)
            print(f"  the fleet meanwhile: {fleet_summary['drivers']} drivers, {fleet_summary['positions']} positions, "
                  f"{fleet_summary['actions']} stop actions, reached {fleet_summary['sim_seconds'] / fleet_summary['real_seconds']:.1f}x "
                  f"of {args.speed:g}x")  # fmt: skip
        except (ValueError, KeyError):
            pass


if __name__ == "__main__":
    main()
