"""The analytics page read in Chromium at 1440 px and on a phone: labels big enough, none overlapping,
figures in human units with their explanation on hover, nothing wider than the screen."""

import re

import pytest
from django.conf import settings as django_settings
from django.test import Client

from tests.analytics.conftest import DAY, _empty_cache, costed_vehicle, day_of_depot_a  # noqa: F401 - fixtures

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.clock]

# Smallest label height, in CSS pixels, that reads without zooming (an 11 px font draws ~12 px boxes).
MIN_LABEL_PX = 11

LABELS = """(() => Array.from(document.querySelectorAll("svg.chart text")).filter((t) => getComputedStyle(t).display !== "none")
  .map((t) => { const r = t.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height, text: t.textContent,
                x_axis: t.classList.contains("tick-x")}; }))()"""


@pytest.fixture
def live_settings(settings):
    settings.DEBUG = True  # static files from the finders, plain-HTTP cookies


def _overlap(a, b) -> bool:
    return (
        a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]
    )


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (390, 844)])
def test_it_reads_at_1440_px_and_on_a_phone(browser, live_server, live_settings, day_of_depot_a, manager, width,  # noqa: F811
                                            height, screenshot):  # fmt: skip
    context = browser.new_context(viewport={"width": width, "height": height})
    session = Client()
    session.force_login(manager)
    cookie = session.cookies[django_settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    page = context.new_page()
    # A month: 31 day labels under the daily chart.
    page.goto(f"{live_server.url}/analytics/?from={DAY.replace(day=1)}&to={DAY.replace(day=31)}")
    page.wait_for_selector("svg.chart")
    labels = page.evaluate(LABELS)
    assert labels
    small = [label for label in labels if label["h"] < MIN_LABEL_PX]
    assert not small, f"labels under {MIN_LABEL_PX} px at {width} px: {small[:3]}"
    x_axis = [label for label in labels if label["x_axis"]]
    assert len(x_axis) >= 4
    crowded = [(a["text"], b["text"]) for i, a in enumerate(x_axis) for b in x_axis[i + 1 :] if _overlap(a, b)]
    assert not crowded, f"day labels overlap at {width} px: {crowded[:3]}"

    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow} px wider than {width} px"
    cards = page.locator(".kpi-card")
    assert cards.count() == 11
    for n in range(cards.count()):
        assert cards.nth(n).get_attribute("title"), "a figure without its explanation"
    assert re.fullmatch(r"\d+:\d\d h", page.locator('[data-figure="planned_route_time"]').inner_text())
    assert page.locator('.kpi-card[data-kpi="cost_per_delivery"] .kpi-value').inner_text().startswith("CHF ")
    show = page.get_by_role("button", name="Show")
    assert show.evaluate("(b) => getComputedStyle(b).backgroundColor") == "rgb(37, 99, 235)"  # the primary button
    screenshot(page, f"analytics-{width}")
    context.close()
