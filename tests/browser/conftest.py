"""Browser tests: Debian's chromium driven by Playwright against pytest-django's live server.

Skipped when the `playwright` package or /usr/bin/chromium is missing; no browser is downloaded.
Screenshots go to test-artifacts/ (gitignored). With the clock pinned (tests/conftest.py), every
context and page the browser opens starts its script clock (Date, timers) at the test's time.
"""

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from django.core.signals import request_finished, request_started

from tests.routes.conftest import demo_network_dir, road_network  # noqa: F401 - fixtures for these tests

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
    # WebGL for the base map (MapLibre) on the CPU: Chromium no longer falls back to it silently.
    "--enable-unsafe-swiftshader",
]  # fmt: skip


@pytest.fixture(scope="session")
def browser(request):
    required = os.environ.get("REQUIRE_BROWSER") == "1"  # `make test` sets it: a missing browser fails there
    if required:
        import playwright.sync_api as sync_api

        assert shutil.which(CHROMIUM), f"no chromium at {CHROMIUM}: run scripts/install_browser.sh"
    else:
        sync_api = pytest.importorskip("playwright.sync_api")
        if not shutil.which(CHROMIUM):
            pytest.skip(f"no chromium at {CHROMIUM}")
    # Playwright's sync API runs an event loop in this thread; Django's async-safety check must allow ORM calls.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield _PinnedClockBrowser(browser) if request.config.pinned_clock else browser
        browser.close()


class _PinnedClockBrowser:
    """Chromium keeps the machine's clock; its pages get the pinned one, which runs on from there."""

    def __init__(self, browser):
        self._browser = browser

    def __getattr__(self, name):
        return getattr(self._browser, name)

    def new_context(self, **options):
        context = self._browser.new_context(**options)
        context.clock.install(time=time.time())  # time_machine's time.time: the pinned moment, ticking
        return context

    def new_page(self, **options):
        page = self._browser.new_page(**options)
        page.clock.install(time=time.time())
        return page


@pytest.fixture(autouse=True)
def _server_idle_before_flush(request):
    """After each test: close the pages it left open, then wait for the live server to finish.

    A page's last request (a position the phone streamed, an action it sent) may still be running in
    a server thread, with its tasks inline, when the test returns. pytest-django then empties the
    tables with TRUNCATE, which waits on that thread's locks while the thread waits on the tables
    already truncated: PostgreSQL breaks the deadlock by failing the flush, and the next test finds
    the last one's rows. Set up after the database fixtures, so this runs before their teardown."""
    browser = request.getfixturevalue("browser") if "browser" in request.fixturenames else None
    with _IN_FLIGHT.lock:  # the last teardown waited for its requests: one it lost must not fail every later test
        _IN_FLIGHT.count = 0
    yield
    if browser is not None:
        for context in list(browser.contexts):
            context.close()
    if request.node.get_closest_marker("django_db"):
        _wait_for_other_transactions()


class _RequestsInFlight:
    """Requests the live server (a thread of this process) has started and not finished. A request's
    inline tasks run before it finishes, so zero means no server thread is at work; the database
    check below still covers other processes."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    def started(self, **kwargs):
        with self.lock:
            self.count += 1

    def finished(self, **kwargs):
        with self.lock:
            self.count -= 1


_IN_FLIGHT = _RequestsInFlight()
request_started.connect(_IN_FLIGHT.started, dispatch_uid="browser-tests-in-flight")
request_finished.connect(_IN_FLIGHT.finished, dispatch_uid="browser-tests-in-flight")


def _wait_for_other_transactions(timeout_s: float = 30) -> None:
    from django.db import connection

    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return  # SQLite's flush takes no table locks; a test in a transaction holds its own server off
    deadline = time.monotonic() + timeout_s
    quiet = 0  # polls in a row with nobody at work: a request between two autocommit statements looks idle
    with connection.cursor() as cursor:
        while quiet < 4:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend' AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')"
            )
            busy = cursor.fetchone()[0] or _IN_FLIGHT.count > 0
            quiet = 0 if busy else quiet + 1
            assert time.monotonic() < deadline, f"the live server still worked {timeout_s} s after the test"
            time.sleep(0.05)


@pytest.fixture
def screenshot():
    ARTIFACTS.mkdir(exist_ok=True)

    def take(page, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    return take


def wait_for_js(page, expression: str, timeout_ms: int = 30_000) -> None:
    """Wait until `expression` is true in the page.

    Playwright's wait_for_function compiles its predicate inside the page, which our
    Content-Security-Policy forbids (no 'unsafe-eval'); page.evaluate goes through DevTools and is
    allowed, so poll with it from here instead.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_ms} ms: {expression}"
        page.wait_for_timeout(100)


def log_in(page, base_url: str, username: str, *, lands_on: str = "/") -> None:
    """Log in through the login page, as a person does, and wait for the page it leads to."""
    from tests.conftest import PASSWORD

    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")  # not the language switcher's buttons
    page.wait_for_url(f"{base_url}{lands_on}")
