"""Analytics in human units: durations as h:mm, distances in km, money in the configured currency.

The page and the daily e-mail say figures this way; the API and the CSV export keep machine units.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.test import Client
from django.utils import translation

from analytics import charts
from analytics.services import daily_summary_send
from analytics.units import distance_km, duration_hm, human, money, percent
from dispatch.language import save_language
from dispatch.roles import MANAGER
from tests.analytics.conftest import DAY

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def english():
    """The figures below are English ones (tests/i18n has both languages): numbers follow the active
    language, and a page test before may have left another one active in this thread."""
    with translation.override("en"):
        yield


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0:00 h"),
        (29, "0:00 h"),
        (30, "0:01 h"),
        (59 * 60, "0:59 h"),
        (3600, "1:00 h"),
        (3600 + 5 * 60, "1:05 h"),
        (24 * 3600, "24:00 h"),
        (25 * 3600 + 61, "25:01 h"),
        (9_228_354, "2\u202f563:26 h"),  # the page's old "Route time planned 9228354 s"
        (None, "–"),
    ],
)
def test_it_writes_durations_as_hours_and_minutes_past_24_hours(seconds, text):
    assert duration_hm(seconds) == text


def test_it_signs_changes_but_not_zero():
    assert duration_hm(-300, signed=True) == "−0:05 h"
    assert duration_hm(300, signed=True) == "+0:05 h"
    assert duration_hm(0, signed=True) == "0:00 h"
    assert distance_km(-1500, signed=True) == "−1.5 km"
    assert percent(0.123, signed=True) == "+12.3 pts"


@pytest.mark.parametrize(
    ("metres", "text"),
    [(0, "0.0 km"), (1234, "1.2 km"), (99_940, "99.9 km"), (100_000, "100 km"), (123_456_789, "123\u202f457 km")],
)
def test_it_writes_distances_in_kilometres(metres, text):
    assert distance_km(metres) == text


def test_it_writes_money_in_the_configured_currency(settings):
    assert money(0) == "CHF 0.00"  # the demo's default (Liechtenstein)
    assert money(1234.5) == "CHF 1\u202f234.50"
    settings.CURRENCY = "EUR"
    assert money(12.345) == "EUR 12.35" or money(12.345) == "EUR 12.34"  # float: 12.345 is 12.3449…
    assert money(0.005) == "EUR 0.01"
    assert money(None) == "–"


def test_it_names_an_unknown_kind_of_figure():
    with pytest.raises(ValueError, match="unknown figure kind 'furlongs'"):
        human(1, "furlongs")


@pytest.mark.parametrize(("value", "accepted"), [("eur", True), ("Swiss francs", False), ("", False)])
def test_it_reads_the_currency_from_the_environment_and_refuses_a_non_code(value, accepted, tmp_path):
    # Settings load once per process: each value in a fresh one.
    env = {**os.environ, "CURRENCY": value, "VAR_DIR": str(tmp_path)}
    script = "import django; django.setup(); from django.conf import settings; print(settings.CURRENCY)"
    done = subprocess.run([sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, text=True)
    if accepted:
        assert done.stdout.strip() == value.upper(), done.stderr
    else:
        assert done.returncode != 0 and "is not an ISO 4217 currency code" in done.stderr


def _page(user) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(f"/analytics/?from={DAY}&to={DAY}")
    assert response.status_code == 200
    return response.content.decode()


def _card(html: str, name: str) -> str:
    match = re.search(rf'data-kpi="{name}"[^>]*>.*?class="kpi-value">([^<]*)<', html, re.S)
    return match.group(1)


def test_it_shows_the_page_in_human_units(day_of_depot_a, manager, settings):
    settings.CURRENCY = "CHF"
    html = _page(manager)
    # One route 08:00-12:00 planned, 20 km, vehicle: 40 fixed + 0.5/km + 30/h (tests/analytics/conftest.py).
    assert 'data-figure="planned_route_time">4:00 h<' in html
    assert 'data-figure="distance">20.0 km<' in html
    assert re.search(r'data-figure="cost">CHF \d+\.\d\d<', html)
    assert _card(html, "cost_per_delivery").startswith("CHF ")
    assert _card(html, "distance_per_delivery_m").endswith(" km")
    assert re.fullmatch(r"\d+:\d\d h", _card(html, "avg_delay_s"))
    assert "Durations in hours:minutes, distances in km, money in CHF." in html
    assert not re.search(r"\d s\b", html)  # no figure in raw seconds
    assert "Planned min" not in html and "Actual min" not in html


def test_it_explains_every_figure_on_hover(day_of_depot_a, manager):
    html = _page(manager)
    cards = re.findall(r'<div class="kpi-card" data-kpi="[^"]+"( title="[^"]+")?>', html)
    assert cards and all(cards), "a KPI card without a title"
    headers = re.findall(r"<th scope=\"col\"( title=\"[^\"]+\")?>", html)
    assert len(headers) == 2 * 12 and sum(1 for h in headers if h) == 2 * 11  # all but the name column
    assert len(re.findall(r'<h2 title="[^"]+">', html)) == 6  # the four charts and the two of ETA accuracy
    for figure in ("planned_route_time", "actual_route_time", "distance", "cost", "eta_p90_error"):
        assert re.search(rf'<span title="[^"]+">[^<]*<b data-figure="{figure}">', html), figure


def test_it_styles_the_show_button_and_the_export_link(day_of_depot_a, manager):
    html = _page(manager)
    assert '<button type="submit" class="button primary"' in html
    assert re.search(r'<a class="button" href="/api/analytics/export.csv\?[^"]*" download', html)


def test_it_keeps_chart_labels_readable_and_sparse():
    svg = charts.bars_and_line(
        labels=[f"{n:02d}.03" for n in range(1, 32)], bars=list(range(31)), line=[0.5] * 31,
        title="t", bar_label="deliveries", line_label="on-time rate",
    )  # fmt: skip
    labels = re.findall(r'<text class="tick tick-x( minor)?"', svg)
    assert len(labels) <= charts.X_LABELS
    assert labels.count(" minor") == len(labels) // 2  # a phone shows every other one
    assert 'viewBox="0 0 560 240"' in svg
    assert "<title>01.03: on-time rate 50.0 %</title>" in svg


def test_it_mails_the_daily_summary_in_human_units(day_of_depot_a, manager, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CURRENCY = "CHF"
    manager.email = "boss@example.com"
    manager.save()
    daily_summary_send(day=DAY)
    body = mail.outbox[0].body
    assert re.search(r"Average delay: \d+:\d\d h, p90 \d+:\d\d h", body)
    assert re.search(r"Cost per delivery: CHF \d+\.\d\d", body)


def test_it_mails_each_manager_the_daily_summary_in_their_language(day_of_depot_a, manager, settings):
    """A manager who chose German reads German; one who chose nothing reads the company's language."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.LANGUAGE_CODE = "en"
    manager.email = "chefin@example.com"
    manager.save()
    save_language(manager, "de")
    other = type(manager).objects.create_user("boss", email="boss@example.com", password="x")
    other.groups.add(Group.objects.get(name=MANAGER))
    assert daily_summary_send(day=DAY) == 2
    by_recipient = {message.to[0]: message for message in mail.outbox}
    german, english = by_recipient["chefin@example.com"], by_recipient["boss@example.com"]
    assert german.subject.startswith("Zustellungen am ") and "Zugestellt:" in german.body
    assert "Mittlere Verspätung:" in german.body and "Zugestellt" in german.alternatives[0][0]
    assert english.subject.startswith("Deliveries on ") and "Delivered:" in english.body
