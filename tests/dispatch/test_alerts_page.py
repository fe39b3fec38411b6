"""The Alerts page (/alerts/) and the nav's count: personas, groups, filters, bulk resolve, time zone."""

import re
from datetime import UTC, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import dateformat, timezone

from dispatch import alerts
from dispatch.models import Alert


def _open(depot, key: str, kind: str = "late", driver=None, ago_min: int = 0) -> Alert:
    alert = alerts.alert_open(
        depot_id=depot.pk, kind=kind, dedup_key=key, message=f"{key} needs you", driver_id=driver.pk if driver else None
    )
    if ago_min:
        Alert.objects.filter(pk=alert.pk).update(created_at=timezone.now() - timedelta(minutes=ago_min))
        alert.refresh_from_db()
    return alert


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _ids(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'data-alert="(\d+)"', html)}


def _groups(html: str) -> list[str]:
    return re.findall(r'<span class="alert-group-title">([^<]*)</span>', html)


@pytest.fixture
def world(depot_a, depot_b, driver_a):
    return {
        "late_a": _open(depot_a, "late:1", driver=driver_a, ago_min=3),
        "idle_a": _open(depot_a, "idle:1", kind="idle", driver=driver_a, ago_min=2),
        "closed_a": _open(depot_a, "closed_road:1", kind="closed_road", ago_min=1),
        "late_b": _open(depot_b, "late:2"),
    }


def test_it_sends_anonymous_visitors_to_log_in_and_refuses_drivers(world, driver_a):
    assert Client().get("/alerts/").status_code == 302
    assert _browser(driver_a.user).get("/alerts/").status_code == 403
    assert Client().post("/alerts/resolve/", {"alert": [world["late_a"].pk]}).status_code == 302
    assert _browser(driver_a.user).post("/alerts/resolve/", {"alert": [world["late_a"].pk]}).status_code == 403
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 4


def test_it_shows_each_dispatcher_only_their_depots_alerts(world, dispatcher_a, dispatcher_b, manager):
    a_ids = {world[k].pk for k in ("late_a", "idle_a", "closed_a")}
    assert _ids(_browser(dispatcher_a).get("/alerts/").content.decode()) == a_ids
    assert _ids(_browser(dispatcher_b).get("/alerts/").content.decode()) == {world["late_b"].pk}
    assert _ids(_browser(manager).get("/alerts/").content.decode()) == a_ids | {world["late_b"].pk}


def test_it_groups_every_kind_the_model_has_by_its_label(depot_a, dispatcher_a):
    for kind in Alert.Kind.values:  # a kind added to the model (e.g. replan_proposal) is grouped too
        _open(depot_a, f"test:{kind}", kind=kind)
    html = _browser(dispatcher_a).get("/alerts/").content.decode()
    assert _groups(html) == [label for _, label in Alert.Kind.choices]


def test_it_groups_by_route_with_alerts_about_no_driver_last(world, dispatcher_a):
    html = _browser(dispatcher_a).get("/alerts/?group=route").content.decode()
    assert _groups(html) == ["Dana Driver · A-Van-1", "Not about a driver"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=idle", {"idle_a"}),
        ("route=none", {"closed_a", "late_b"}),
        ("depot=A", {"late_a", "idle_a", "closed_a"}),
        ("depot=B", {"late_b"}),
    ],
)
def test_it_filters_by_kind_route_and_depot(world, manager, query, expected):
    html = _browser(manager).get(f"/alerts/?{query}").content.decode()
    assert _ids(html) == {world[name].pk for name in expected}


def test_it_filters_by_route_and_time(world, manager, driver_a):
    html = _browser(manager).get(f"/alerts/?route={driver_a.pk}").content.decode()
    assert _ids(html) == {world["late_a"].pk, world["idle_a"].pk}
    since = timezone.localtime(world["idle_a"].created_at) - timedelta(seconds=30)
    html = _browser(manager).get("/alerts/", {"since": since.strftime("%Y-%m-%dT%H:%M:%S")}).content.decode()
    assert world["late_a"].pk not in _ids(html) and world["idle_a"].pk in _ids(html)


def test_it_shows_resolved_alerts_with_who_resolved_them(world, dispatcher_a):
    alerts.alert_resolve(alert=world["late_a"], by=dispatcher_a)
    client = _browser(dispatcher_a)
    assert world["late_a"].pk not in _ids(client.get("/alerts/").content.decode())
    html = client.get("/alerts/?state=resolved").content.decode()
    assert _ids(html) == {world["late_a"].pk} and "by disp_a" in html
    assert 'name="alert" value' not in html  # nothing left to tick


def test_it_names_a_bad_filter_and_still_shows_the_page(world, dispatcher_a):
    response = _browser(dispatcher_a).get("/alerts/?depot=B&kind=bogus&since=2026-02-30T10:00")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Depot: Select a valid choice. B is not one of the available choices." in html
    assert "Kind: Select a valid choice." in html and "From: Enter a valid date/time." in html
    assert _ids(html) == {world[k].pk for k in ("late_a", "idle_a", "closed_a")}  # the bad filters are left out


def test_it_resolves_the_ticked_alerts_of_the_dispatchers_depots_only(world, dispatcher_a):
    client = _browser(dispatcher_a)
    ticked = [world["late_a"].pk, world["idle_a"].pk, world["late_b"].pk]
    response = client.post("/alerts/resolve/", {"alert": ticked, "query": "kind=late&group=route"}, follow=True)
    assert response.redirect_chain[-1][0] == "/alerts/?kind=late&group=route"
    assert "2 alerts resolved. 1 could not be found" in response.content.decode()
    assert set(Alert.objects.filter(resolved_at__isnull=True).values_list("dedup_key", flat=True)) == {
        "closed_road:1",
        "late:2",
    }


def test_it_asks_to_tick_alerts_first_and_ignores_a_foreign_redirect(world, dispatcher_a):
    response = _browser(dispatcher_a).post("/alerts/resolve/", {"query": "https://evil.example/"}, follow=True)
    assert response.redirect_chain[-1][0].startswith("/alerts/")
    assert "Tick the alerts to resolve first." in response.content.decode()


@pytest.mark.parametrize("path", ["/", "/plans/", "/closures/", "/live/", "/inbox/", "/analytics/", "/alerts/"])
def test_it_counts_open_alerts_in_the_nav_of_every_dashboard_page(world, dispatcher_a, dispatcher_b, path, settings):
    settings.MAP_TILE_URL = "http://tiles.invalid/{z}/{x}/{y}.png"  # no road network needed for the live map
    html = _browser(dispatcher_a).get(path).content.decode()
    assert re.search(r'>Alerts <span class="nav-count" id="nav-alert-count">3</span></a>', html), path
    assert re.search(r'href="/alerts/"[^>]* title="3 open: 1 [A-Z][a-z]+[^"]*"', html), path
    html_b = _browser(dispatcher_b).get(path).content.decode()
    assert re.search(r'id="nav-alert-count">1</span>', html_b), path


def test_it_shows_no_count_when_nothing_is_open(dispatcher_a):
    html = _browser(dispatcher_a).get("/").content.decode()
    assert 'href="/alerts/"' in html and "nav-alert-count" not in html


def test_it_counts_the_nav_in_one_query(world, dispatcher_a):
    client = _browser(dispatcher_a)
    client.get("/inbox/")  # warm the session and the user
    with CaptureQueriesContext(connection) as queries:
        client.get("/inbox/")
    assert sum(1 for q in queries if 'FROM "dispatch_alert"' in q["sql"]) == 1


@pytest.mark.clock
def test_it_writes_times_in_the_companys_zone_and_says_it_once(world, dispatcher_a, settings):
    assert settings.TIME_ZONE == "Europe/Vaduz"
    html = _browser(dispatcher_a).get("/alerts/").content.decode()
    assert html.count("All times in Europe/Vaduz") == 1
    created = world["late_a"].created_at
    local = timezone.localtime(created)
    shown = dateformat.format(local, "H:i" if local.date() == timezone.localdate() else "D j M H:i")
    match = re.search(rf'<time datetime="{re.escape(local.isoformat())}">([^<]*)</time>', html)
    assert match, "the alert's time is not written in the company's zone"
    assert match.group(1) == shown
    utc_clock = dateformat.format(created.astimezone(UTC), "H:i")
    assert local.utcoffset() and utc_clock not in match.group(1)  # Vaduz is never UTC
