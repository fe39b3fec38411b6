"""The warm-up of a server process (config/warm_up.py): what the first request paid for is done as the
process starts, in a thread of its own, never under pytest."""

import gc
import logging
import sys

import pytest
from django.core.signals import request_finished, request_started
from django.template import engines
from django.urls import clear_url_caches, get_resolver

from config import warm_up as warm_up_module
from config.warm_up import warm_up, warm_up_in_background

PAGES = ("base.html", "dispatch/home.html", "live/live_map.html", "routes/plan_detail.html")


def failing_step():
    raise RuntimeError("no road network")


@pytest.fixture
def template_cache():
    """The cached template loader, emptied (other tests have filled it)."""
    [loader] = engines["django"].engine.template_loaders
    loader.reset()
    return loader.get_template_cache


@pytest.fixture(autouse=True)
def _unfrozen():
    # warm_up() freezes the garbage collector's objects: this process runs other tests afterwards.
    yield
    gc.unfreeze()


def test_it_compiles_the_templates_and_fills_the_url_tables_of_every_language(template_cache):
    clear_url_caches()

    timings = warm_up()

    assert list(timings) == ["urls", "translations", "templates", "gc"]
    assert set(PAGES) <= set(template_cache)
    assert {"en", "de"} <= set(get_resolver()._reverse_dict)  # what {% url %} reads, per language
    assert gc.get_freeze_count() > 0


def test_a_step_that_fails_is_logged_and_the_next_ones_still_run(template_cache, caplog):
    with caplog.at_level(logging.WARNING, logger="config.warm_up"):
        timings = warm_up(steps=("tests.test_warm_up.failing_step",))

    assert "warm-up: tests.test_warm_up.failing_step failed: RuntimeError: no road network" in caplog.text
    assert "tests.test_warm_up.failing_step" in timings and set(PAGES) <= set(template_cache)


@pytest.fixture
def outside_pytest(monkeypatch):
    """As in a server process: no pytest module loaded, no warm-up started yet; `_run` recorded, not run."""
    ran = []
    monkeypatch.setattr(warm_up_module, "_run", ran.append)
    monkeypatch.setitem(warm_up_module._started, "thread", None)
    monkeypatch.delitem(sys.modules, "pytest")
    yield ran
    request_started.disconnect(dispatch_uid="config.warm_up.started")
    request_finished.disconnect(dispatch_uid="config.warm_up.finished")


def test_it_never_starts_under_pytest():
    assert "pytest" in sys.modules and warm_up_in_background(steps=("a.step",)) is None


def test_it_starts_once_per_process_unless_turned_off(outside_pytest, settings):
    settings.WARM_UP = False
    assert warm_up_in_background(steps=("a.step",)) is None and outside_pytest == []

    settings.WARM_UP = True
    thread = warm_up_in_background(steps=("a.step",))
    thread.join(timeout=5)

    assert thread.name == "warm-up" and thread.daemon and outside_pytest == [("a.step",)]
    assert warm_up_in_background(steps=("a.step",)) is None and outside_pytest == [("a.step",)]


def test_it_gives_way_to_a_request_in_flight(monkeypatch):
    waiting = warm_up_module._Requests()
    naps = []
    monkeypatch.setattr(warm_up_module.time, "sleep", lambda seconds: (naps.append(seconds), waiting.finished()))

    waiting.started()
    waiting.give_way()
    waiting.give_way()  # nothing in flight any more

    assert naps == [0.005]
