"""The production stack for benchmarks that drive it from outside: daphne processes and a Celery
worker started against a benchmark's own PostgreSQL and Redis databases, a keep-alive HTTP/1.1
client, and the readings (percentiles, CPU seconds, load) the scripts print.

Everything listens and connects on loopback. The client side is plain asyncio, so a benchmark needs
nothing beyond what the project installs.
"""

import asyncio
import gzip
import json
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_SECRET_KEY = "bench-" + "x" * 60  # loopback only; production refuses to start without a 50+ char key


# --- readings ---------------------------------------------------------------------------------


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, IndexError):
        return float("nan")


def system_busy_seconds() -> float:
    """CPU seconds all cores spent on anything but idle and I/O wait, machine-wide (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def service_pids(name: str) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/comm"):
        try:
            if stat.read_text().strip() == name:
                pids.append(int(stat.parent.name))
        except OSError:
            continue
    return pids


# --- processes --------------------------------------------------------------------------------


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def server_env(*, database: str, redis: str, **extra: str) -> dict:
    """The environment of a production process (DEBUG=0) on loopback against the benchmark's databases."""
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database,
        REDIS_URL=redis,
        DEBUG="0",
        SECRET_KEY=BENCH_SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        CHANNEL_PREFIX=f"bench{uuid.uuid4().hex[:6]}",
        PYTHONPATH=str(ROOT),
    )
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(extra)
    return env


def start_daphne(
    *, application: str, ports: list[int], env: dict, log_prefix: Path, env_of_index=None
) -> list[subprocess.Popen]:
    """One daphne process per port; process i logs to `<log_prefix>_<i>.log`."""
    processes = []
    for index, port in enumerate(ports):
        log = open(f"{log_prefix}_{index}.log", "w")  # noqa: SIM115 - closed with the process
        processes.append(
            subprocess.Popen(
                [str(ROOT / ".venv/bin/daphne"), "-b", "127.0.0.1", "-p", str(port), application],
                cwd=ROOT,
                env=dict(env, **(env_of_index(index) if env_of_index else {})),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return processes


def start_celery_worker(*, env: dict, log_path: Path, concurrency: int = 2) -> subprocess.Popen:
    """The Procfile's `worker:` (customer messages on their own queue, as production configures it)."""
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/celery"), "-A", "config", "worker", "--loglevel=warning", f"--concurrency={concurrency}",
         "-Q", "plans,live,notifications,celery", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=dict(env, CELERY_NOTIFICATION_QUEUE="notifications"), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (a Celery worker's pool processes)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = [pid]
    if children.exists():
        for child in children.read_text().split():
            found += process_tree(int(child))
    return found


def lower_priority(pid: int, niceness: int = 10) -> None:
    """Background work yields the CPU to request serving, as deploy/systemd runs workers (Nice=10)."""
    for each in process_tree(pid):
        os.setpriority(os.PRIO_PROCESS, each, niceness)


def stop_processes(processes) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


async def wait_for_server(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # bounded by timeout
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            await writer.drain()
            line = await reader.readline()
            writer.close()
            if line.startswith(b"HTTP/1.1"):
                return
        except OSError:
            pass
        await asyncio.sleep(0.3)
    raise RuntimeError(f"daphne on port {port} did not answer within {timeout} s")


# --- HTTP/1.1 client --------------------------------------------------------------------------


class StaleConnection(ConnectionError):
    """The server closed a kept-alive connection before answering (idle timeout, restart)."""


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)  # names lower-cased, in order
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)

    def set_cookies(self) -> dict[str, str]:
        cookies = {}
        for key, value in self.headers:
            if key == "set-cookie":
                name, _, rest = value.partition("=")
                cookies[name.strip()] = rest.split(";", 1)[0]
        return cookies

    def text(self) -> str:
        body = gzip.decompress(self.body) if self.header("content-encoding") == "gzip" else self.body
        return body.decode("utf-8", "replace")


class HttpConnection:
    """One keep-alive HTTP/1.1 connection, one request at a time (as one phone or browser tab does).

    `local_ip` binds the client side to another loopback address (127.x.y.z), so a server that
    counts requests per client IP sees many clients, as it would behind a proxy that passes them on.
    """

    def __init__(self, port: int, *, local_ip: str | None = None):
        self.port = port
        self.local_ip = local_ip
        self.reader = self.writer = None
        self.stale_retries = 0

    async def request(
        self, method: str, path: str, *, headers: dict | None = None, body: bytes = b"", retry_stale: bool = False
    ) -> Response:
        """Send one request. With `retry_stale`, a kept-alive connection the server closed before
        answering is replaced once and the request sent again, as browsers do for idempotent requests."""
        reused = self.writer is not None
        try:
            return await self._exchange(method, path, headers or {}, body)
        except StaleConnection:
            self.close()
            if not (retry_stale and reused):
                raise
            self.stale_retries += 1
            return await self._exchange(method, path, headers or {}, body)

    async def post_json(self, path: str, body: dict, token: str) -> int:
        response = await self.request(
            "POST",
            path,
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
            body=json.dumps(body).encode(),
        )
        return response.status

    async def _exchange(self, method: str, path: str, headers: dict, body: bytes) -> Response:
        if self.writer is None:
            local = (self.local_ip, 0) if self.local_ip else None
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, local_addr=local)
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        lines.append("Connection: keep-alive")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise StaleConnection("server closed the connection")
        response = Response(status=int(status_line.split()[1]))
        length, chunked, close = 0, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            response.headers.append((name, value))
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.lower() == "close":
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                parts.append((await self.reader.readexactly(size + 2))[:-2])
                if size == 0:
                    break
            response.body = b"".join(parts)
        elif length:
            response.body = await self.reader.readexactly(length)
        if close:
            self.close()
        return response

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = self.reader = None
