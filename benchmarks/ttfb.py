"""Time to first byte of the dispatcher's pages on the demo that `make run` serves. Issue 15: Today (/),
Live (/live/) and the newest plan's page (/plans/<id>/) under 300 ms, the first request after a start too.

    .venv/bin/python benchmarks/ttfb.py                          # the embedded mode, as `make run`
    .venv/bin/python benchmarks/ttfb.py --requests 30 --settle 2 --json ttfb.json
    .venv/bin/python benchmarks/ttfb.py --database-url postgres://postgres@127.0.0.1:5432/dispatch_bench_ttfb

What it does, all on 127.0.0.1:
1. sets the demo up as `make run` does (the Makefile's `demo` target), in a VAR_DIR of its own
   (--var-dir names one to keep and reuse): migrate, load_road_network --if-missing from
   data/liechtenstein.osm.pbf, seed_demo --if-empty --days 90. No base-map tiles unless --tiles (the
   pages then draw the road network's main roads instead, the heavier case) and no collectstatic
   (DEBUG serves static files from the source tree). With --database-url the data goes to that
   PostgreSQL database instead of the SQLite file: created when missing and emptied first, so its
   name must contain "bench";
2. starts daphne as `make run` does (DEBUG on, PYTHONDONTWRITEBYTECODE=1 as the Makefile exports it,
   no DATABASE_URL or REDIS_URL: SQLite, the in-memory channel layer, in-process tasks), logs in as
   the demo dispatcher through the login form, finds the newest plan (GET /api/plans/, newest
   first) and stops the server; the session stays in the database;
3. per page, two freshly started daphne processes (the same way): on the first, the page's request
   the moment the server accepts connections ("at once": a restart behind a proxy that holds
   requests); on the second, its first request --settle seconds after that ("cold": someone opening
   the page once the server is up), then --requests more ("warm"), one after another. Each request
   on a new connection with a browser's headers (HTML, gzip, --language);
4. prints, per page, the time to first byte (request sent until its status line and headers are
   read) of the cold requests and the warm requests' median, p95 and max against the target, the
   whole response's median, the server's start (process start until it accepts connections) and
   the load average (the machine may be shared: compare figures of one run); --json FILE writes
   the same figures. The target is judged on cold, median and p95; exits 1 when a page misses it.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._stack import percentile, stop_processes  # noqa: E402 - after the path is set

TARGET_MS = 300
DEMO_PBF = ROOT / "data" / "liechtenstein.osm.pbf"
# The demo dispatcher of both depots (dispatch/demo/seeding.py DEMO_LOGINS, printed by `make run`).
DISPATCHER = ("dispatcher", "dispatcher-demo-2026")
BROWSER_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Encoding": "gzip, deflate, br",
    "User-Agent": "ttfb-benchmark",
}


# --- the demo and the server --------------------------------------------------------------------


def server_env(var_dir: Path, database_url: str | None, port: int) -> dict:
    """The environment of `make run`: its VAR_DIR, HOST and PORT, no broker; DEBUG as the developer has it."""
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="config.settings",
        HOST="127.0.0.1",
        PORT=str(port),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPATH=str(ROOT),
    )
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _create_and_empty_postgres(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = urllib.parse.urlsplit(url).path.lstrip("/")
    if "bench" not in name:
        sys.exit(
            f"--database-url: {name!r} is emptied by this benchmark; use a database of its own (name with 'bench')"
        )
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def set_up_demo(var_dir: Path, database_url: str | None, log, *, tiles: bool) -> float:
    """The Makefile's `demo` target (the base map's tiles only with `tiles`); seconds taken."""
    started = time.monotonic()
    env = server_env(var_dir, database_url, 0)
    manage = [sys.executable, "manage.py"]
    steps = [["migrate", "--noinput", "-v0"]]
    if database_url:
        _create_and_empty_postgres(database_url)
        steps.append(["flush", "--noinput", "-v0"])
    steps.append(["load_road_network", "--if-missing", str(DEMO_PBF)])
    if tiles:
        steps.append(["build_map_tiles", "--if-missing", str(DEMO_PBF)])
    steps.append(["seed_demo", "--if-empty", "--days", "90"])
    for step in steps:
        result = subprocess.run(manage + step, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        if result.returncode:
            sys.exit(f"set-up failed at manage.py {' '.join(step)}; see {log.name}")
    return time.monotonic() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One daphne process as `make run` starts it, on a free port."""

    def __init__(self, var_dir: Path, database_url: str | None, log_path: Path):
        self.port = free_port()
        self.log = open(log_path, "a")  # noqa: SIM115 - closed in stop()
        started = time.monotonic()
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/daphne"), "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"],
            cwd=ROOT,
            env=server_env(var_dir, database_url, self.port),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_listening(timeout_s=60)
        self.start_s = time.monotonic() - started

    def _wait_until_listening(self, timeout_s: float) -> None:
        # A bare TCP connection, no request: the page's own request must be the server's first.
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:  # bounded by timeout_s
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.process.returncode}; see {self.log.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError(f"daphne did not accept connections within {timeout_s} s")

    def stop(self) -> None:
        stop_processes([self.process])
        self.log.close()


# --- requests ----------------------------------------------------------------------------------


def _cookies_from(response, cookies: dict) -> None:
    for name, value in response.getheaders():
        if name.lower() == "set-cookie":
            key, _, rest = value.partition("=")
            cookies[key.strip()] = rest.split(";", 1)[0]


def request(port: int, method: str, path: str, *, cookies: dict, headers=None, body=None, timeout_s: float = 60):
    """(response, body, seconds to first byte, seconds in all) on a new connection."""
    all_headers = dict(headers or {})
    if cookies:
        all_headers["Cookie"] = "; ".join(f"{key}={value}" for key, value in cookies.items())
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        started = time.perf_counter()
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()  # the status line and the headers
        first_byte = time.perf_counter() - started
        data = response.read()
        return response, data, first_byte, time.perf_counter() - started
    finally:
        connection.close()


def log_in(port: int, language: str) -> tuple[dict, float]:
    """The demo dispatcher's session cookie through the login form, and the login page's first byte."""
    cookies: dict = {}
    headers = dict(BROWSER_HEADERS, **{"Accept-Language": language, "Accept-Encoding": "identity"})
    response, page, first_byte, _ = request(port, "GET", "/login/", cookies=cookies, headers=headers)
    _cookies_from(response, cookies)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if response.status != 200 or not token:
        raise RuntimeError(f"GET /login/ answered {response.status} without a CSRF token")
    form = urllib.parse.urlencode(
        {"username": DISPATCHER[0], "password": DISPATCHER[1], "csrfmiddlewaretoken": token.group(1).decode()}
    )
    response, _, _, _ = request(
        port,
        "POST",
        "/login/",
        cookies=cookies,
        headers=dict(headers, **{"Content-Type": "application/x-www-form-urlencoded"}),
        body=form,
    )
    _cookies_from(response, cookies)
    if response.status != 302 or "sessionid" not in cookies:
        raise RuntimeError(f"the demo dispatcher's login failed (HTTP {response.status})")
    return cookies, first_byte


def newest_plan(port: int, cookies: dict) -> dict:
    response, data, _, _ = request(port, "GET", "/api/plans/", cookies=cookies, headers={"Accept": "application/json"})
    if response.status != 200:
        raise RuntimeError(f"GET /api/plans/ answered {response.status}")
    listed = json.loads(data)
    plans = listed["results"] if isinstance(listed, dict) else listed
    if not plans:
        raise RuntimeError("the demo has no plan: did seed_demo --days 90 run?")
    return plans[0]  # newest first: date, version, id


def measure_page(port: int, path: str, *, cookies: dict, headers: dict, requests: int) -> dict:
    first_bytes, totals, sizes = [], [], set()
    for _ in range(requests + 1):
        response, data, first_byte, total = request(port, "GET", path, cookies=cookies, headers=headers)
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status} (the session lost?)")
        first_bytes.append(first_byte)
        totals.append(total)
        sizes.add(len(data))
    warm = first_bytes[1:]
    return {
        "path": path,
        "cold_ms": round(first_bytes[0] * 1000, 1),
        "median_ms": round(statistics.median(warm) * 1000, 1),
        "p95_ms": round(percentile(warm, 0.95) * 1000, 1),
        "max_ms": round(max(warm) * 1000, 1),
        "total_median_ms": round(statistics.median(totals[1:]) * 1000, 1),
        "bytes": max(sizes),
        "warm_requests": len(warm),
    }


# --- the run -----------------------------------------------------------------------------------


def run(args, var_dir: Path) -> dict:
    log_path = var_dir / "ttfb.log"
    with open(log_path, "a") as log:
        print(f"setting the demo up in {var_dir} (log: {log_path})…", flush=True)
        setup_s = set_up_demo(var_dir, args.database_url, log, tiles=args.tiles)
    server = Server(var_dir, args.database_url, var_dir / "daphne.log")
    try:
        cookies, login_first_byte = log_in(server.port, args.language)
        plan = newest_plan(server.port, cookies)
    finally:
        server.stop()
    pages = {
        "Today": "/",
        "Live": "/live/",
        f"plan {plan['id']} ({plan['date']} {plan['depot']} v{plan['version']})": f"/plans/{plan['id']}/",
    }
    headers = dict(BROWSER_HEADERS, **{"Accept-Language": args.language})
    print(
        f"set up in {setup_s:.0f} s; per page two fresh servers: the first request at once, and"
        f" {args.settle:g} s after the server accepts connections followed by {args.requests} more",
        flush=True,
    )
    loads = [os.getloadavg()]
    results, starts = {}, []
    for name, path in pages.items():
        at_once = Server(var_dir, args.database_url, var_dir / "daphne.log")
        try:
            _, _, first_byte, _ = request(at_once.port, "GET", path, cookies=cookies, headers=headers)
        finally:
            at_once.stop()
        server = Server(var_dir, args.database_url, var_dir / "daphne.log")
        starts += [at_once.start_s, server.start_s]
        try:
            time.sleep(args.settle)
            results[name] = measure_page(server.port, path, cookies=cookies, headers=headers, requests=args.requests)
        finally:
            server.stop()
        results[name]["at_once_ms"] = round(first_byte * 1000, 1)
        loads.append(os.getloadavg())
    return {
        "mode": "PostgreSQL (" + args.database_url.rsplit("/", 1)[1] + ")"
        if args.database_url
        else "embedded (SQLite)",
        "base_map": "tiles" if args.tiles else "road backdrop (no tiles)",
        "target_ms": args.target_ms,
        "settle_s": args.settle,
        "language": args.language,
        "requests": args.requests,
        "cores": os.cpu_count(),
        "setup_s": round(setup_s, 1),
        "login_page_first_byte_ms": round(login_first_byte * 1000, 1),
        "server_start_s": [round(s, 2) for s in starts],
        "load_average": {"before": loads[0], "after": loads[-1], "highest_1min": max(load[0] for load in loads)},
        "pages": results,
    }


def report(result: dict) -> bool:
    target = result["target_ms"]
    loads = result["load_average"]
    print(
        f"\n{result['mode']}, {result['base_map']}, daphne as `make run` (DEBUG on), {result['cores']} cores;"
        f" Accept-Language {result['language']}; the login page's first byte {result['login_page_first_byte_ms']:.0f} ms"
    )
    starts = result["server_start_s"]
    print(
        f"server start (process → accepting connections): median {statistics.median(starts):.2f} s, max {max(starts):.2f} s"
    )
    print(
        f"load average (1 min): before {loads['before'][0]:.2f}, highest {loads['highest_1min']:.2f}, after"
        f" {loads['after'][0]:.2f} (5 min: {loads['after'][1]:.2f}); the machine may be shared"
    )
    print(
        f"\n  time to first byte, ms (cold: the first request {result['settle_s']:g} s after the server accepts"
        f" connections, then {result['requests']} warm ones; target < {target} ms)"
    )
    print(
        f"  {'page':<36} {'at once':>7} {'cold':>7} {'median':>7} {'p95':>7} {'max':>7} {'whole':>7} {'KB':>6}  target"
    )
    met_all = True
    for name, page in result["pages"].items():
        met = page["cold_ms"] < target and page["median_ms"] < target and page["p95_ms"] < target
        met_all &= met
        print(
            f"  {name:<36} {page['at_once_ms']:>7.0f} {page['cold_ms']:>7.0f} {page['median_ms']:>7.0f} {page['p95_ms']:>7.0f}"
            f" {page['max_ms']:>7.0f} {page['total_median_ms']:>7.0f} {page['bytes'] / 1024:>6.0f}"
            f"  {'met' if met else 'MISSED'}"
        )
    print(
        "  (at once: the first request the moment a fresh server accepts connections, not judged; whole: the"
        " median of the whole response, read to its end; KB: as sent, gzip)"
    )
    print(f"target: cold, median and p95 under {target} ms on every page: {'met' if met_all else 'MISSED'}")
    return met_all


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=30, help="warm requests per page after the cold one")
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds between accepting connections and the cold request"
    )
    parser.add_argument("--tiles", action="store_true", help="build the base map's tiles as `make run` does")
    parser.add_argument("--language", default="en", help="the browser's Accept-Language (e.g. de)")
    parser.add_argument("--target-ms", type=float, default=TARGET_MS)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL database of the benchmark's own (created, emptied): postgres://…/dispatch_bench_ttfb",
    )
    parser.add_argument("--var-dir", type=Path, help="a VAR_DIR to set up or reuse, kept afterwards")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    if args.requests < 1 or args.settle < 0:
        parser.error("--requests >= 1, --settle >= 0")
    if args.database_url and not args.database_url.startswith("postgres"):
        parser.error("--database-url takes a postgres:// URL")
    var_dir = args.var_dir or Path(tempfile.mkdtemp(prefix="bench-ttfb-"))
    var_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = run(args, var_dir)
    except BaseException:
        print(f"\nfiles and logs kept in {var_dir}", file=sys.stderr)
        raise
    met = report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"figures written to {args.json}")
    if args.var_dir is None:
        shutil.rmtree(var_dir, ignore_errors=True)
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
