"""A server process warms itself up in the background, so that the first requests after a start answer as
fast as the later ones (issue 15: Today, Live and a plan's page under 300 ms, the first request too).

Without it, the first request of a fresh process paid for everything Django and the project do once:
importing the URLconf and with it every view (folium, DRF, the API schema; under `make run` each
project module is compiled from source, PYTHONDONTWRITEBYTECODE), the URL resolver's reverse tables
(per language), the translation catalogs, compiling the templates, and the maps' first drawing (the
road network loaded for the backdrop, folium's templates). Those first requests took 0.3–0.45 s where
later ones take 0.04–0.15 s.

`warm_up_in_background` starts one daemon thread when config.asgi creates the application, so the
server starts listening as early as before. The thread steps aside while a request runs (between
steps, and between templates): they share one interpreter lock, and a request that comes while the
thread is at work should not run at half speed; it waits at most for the step in progress, which
does what that request would do itself (imports and the road network load once, under their locks).
Each step is independent: one that fails is logged, and the request that needs it pays for it as
before. The garbage collector: what the start-up made (modules, classes, functions: a few hundred
thousand objects that live as long as the process) goes into its permanent generation (gc.freeze)
before the first request, and what the warm-up made at its end; full collections then walk only
what requests leave, instead of stalling a page by ~0.1 s every few views.

Never under pytest (the tests import config.asgi for their sockets; the warm-up is called there
directly) and not with WARM_UP=0 (settings). The project's own steps (a map drawn once) are named
by dotted path in config.asgi, which may import every layer; this module imports none of them.
"""

import gc
import logging
import sys
import threading
import time
from pathlib import Path

from django.conf import settings
from django.conf.urls.i18n import is_language_prefix_patterns_used
from django.core.signals import request_finished, request_started
from django.db import connections
from django.template import engines
from django.urls import get_resolver
from django.utils import translation
from django.utils.module_loading import import_string
from django.utils.translation import trans_real

logger = logging.getLogger(__name__)

# The warm-up steps aside while a request runs (they share one interpreter lock): how long it waits at
# most in all, so that a server busy from its first second still ends up warm.
YIELD_BUDGET_S = 10.0

_started = {"thread": None}


class _Requests:
    """Django requests in flight in this process (request_started / request_finished)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._count = 0
        self.waited_s = 0.0

    def started(self, **_kwargs) -> None:
        with self._lock:
            self._count += 1

    def finished(self, **_kwargs) -> None:
        with self._lock:
            self._count = max(0, self._count - 1)

    def give_way(self) -> None:
        """Wait while a request runs: the thread would otherwise take half of its interpreter time."""
        while self._count and self.waited_s < YIELD_BUDGET_S:  # bounded by YIELD_BUDGET_S
            time.sleep(0.005)
            self.waited_s += 0.005


_requests = _Requests()


def _urls() -> None:
    # Imports the URLconf and every view; the reverse tables are per language ({% url %}, reverse()).
    resolver = get_resolver()
    is_language_prefix_patterns_used(settings.ROOT_URLCONF)
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            resolver.reverse_dict  # noqa: B018 - the property fills the table of the active language


def _translations() -> None:
    for code, _name in settings.LANGUAGES:
        trans_real.translation(code)


def _templates() -> None:
    """Compile the project's templates (settings.TEMPLATES DIRS) into the cached loaders."""
    for backend in engines.all():
        engine = getattr(backend, "engine", None)
        for directory in map(Path, engine.dirs if engine else ()):
            for path in sorted(directory.rglob("*")):
                if not path.is_file():
                    continue
                _requests.give_way()
                try:
                    engine.get_template(path.relative_to(directory).as_posix())
                except Exception as exc:  # noqa: BLE001 - a template that fails here fails on its page, as before
                    logger.warning("warm-up: template %s not compiled: %s", path, exc)


def _freeze_garbage_collection() -> None:
    # What the warm-up loaded lives as long as the process: out of the collector's way for good (the
    # start-up's objects are frozen already, so this full collection walks only what came since).
    gc.collect()
    gc.freeze()


def warm_up(*, steps: tuple[str, ...] = ()) -> dict[str, float]:
    """Do the once-per-process work now; `steps`: dotted paths of the project's own callables, run after
    the URLconf (which imports their modules). Seconds per step."""
    timings = {}
    named = [("urls", _urls), ("translations", _translations), *((path, path) for path in steps)]
    named += [("templates", _templates), ("gc", _freeze_garbage_collection)]
    for name, step in named:
        _requests.give_way()
        started = time.perf_counter()
        try:
            (import_string(step) if isinstance(step, str) else step)()
        except Exception as exc:  # noqa: BLE001 - the request that needs it will pay for it, as before
            logger.warning("warm-up: %s failed: %s: %s", name, type(exc).__name__, exc)
        timings[name] = time.perf_counter() - started
    return timings


def _run(steps: tuple[str, ...]) -> None:
    started = time.perf_counter()
    try:
        timings = warm_up(steps=steps)
    finally:
        request_started.disconnect(dispatch_uid="config.warm_up.started")
        request_finished.disconnect(dispatch_uid="config.warm_up.finished")
        # The thread's own database connections (a step read the active road network); requests have theirs.
        connections.close_all()
    logger.info(
        "warmed up in %.2f s, %.2f s of it giving way to requests (%s)",
        time.perf_counter() - started,
        _requests.waited_s,
        ", ".join(f"{name} {seconds:.2f} s" for name, seconds in timings.items()),
    )


def warm_up_in_background(*, steps: tuple[str, ...] = ()) -> threading.Thread | None:
    """Start the warm-up thread once per process; None when it does not run (WARM_UP=0, tests)."""
    if not settings.WARM_UP or "pytest" in sys.modules or _started["thread"] is not None:
        return None
    # The modules, classes and functions of the start-up are never freed: frozen now, before the first
    # request, full collections stop walking them (a few hundred thousand objects, ~0.1 s each time).
    gc.freeze()
    request_started.connect(_requests.started, dispatch_uid="config.warm_up.started")
    request_finished.connect(_requests.finished, dispatch_uid="config.warm_up.finished")
    thread = threading.Thread(target=_run, args=(steps,), name="warm-up", daemon=True)
    _started["thread"] = thread
    thread.start()
    return thread
