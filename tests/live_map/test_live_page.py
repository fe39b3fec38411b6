"""The live map page (/live/): office staff only; the state it draws, scoped to the user's depots."""

import json

import pytest
from django.test import Client

from dispatch import alerts
from dispatch.live.views import stop_vertices
from tests.conftest import PASSWORD

pytestmark = pytest.mark.clock


def browser_for(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def page_config(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="live-config" type="application/json">') + len(
        '<script id="live-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_it_renders_the_live_map_for_a_dispatcher_with_routes_vehicles_and_alerts(dispatched_route, dispatcher_a):
    alerts.alert_open(depot_id=dispatched_route.vehicle.depot_id, kind="other", dedup_key="t:1", message="Check van")
    response = browser_for(dispatcher_a).get("/live/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "vendor/leaflet/leaflet.js" in html and "js/live.js" in html and 'id="live-map"' in html
    config = page_config(response)
    assert "OpenStreetMap</a> contributors" in config["osmCredit"] and config["backdrop"]
    [route] = config["state"]["routes"]
    assert route["id"] == dispatched_route.pk and route["driver_name"] == "Dana Driver"
    vertices = [stop["vertex"] for stop in route["stops"]]
    assert vertices == sorted(vertices) and 0 < vertices[0] and vertices[-1] < len(route["coordinates"]) - 1
    assert [a["message"] for a in config["state"]["alerts"]] == ["Check van"]
    assert config["socketPath"] == "/ws/dispatch/?positions=batched"


def test_it_answers_the_same_state_as_json_for_reloads(dispatched_route, manager):
    response = browser_for(manager).get("/live/?format=json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert [r["id"] for r in response.json()["routes"]] == [dispatched_route.pk]


def test_it_shows_a_dispatcher_of_another_depot_nothing_of_depot_a(dispatched_route, dispatcher_b):
    state = browser_for(dispatcher_b).get("/live/?format=json").json()
    assert state["routes"] == [] and state["alerts"] == []
    assert all(d["depot"] != dispatched_route.vehicle.depot_id for d in state["drivers"])


def test_it_refuses_drivers_and_sends_anonymous_visitors_to_log_in(driver_a, db):
    assert browser_for(driver_a.user).get("/live/").status_code == 403
    anonymous = Client().get("/live/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert Client().get("/live/?format=json").status_code == 302


@pytest.mark.parametrize(
    ("stops", "expected"),
    [
        ([(0.0, 1.0), (0.0, 3.0)], [1, 3]),
        ([(0.0, 1.0), (0.0, 1.0)], [1, 1]),  # two stops at one address
        ([(0.0, 3.0), (0.0, 1.0)], [3, 5]),  # the road passes the second stop before the first: found after it
    ],
)
def test_it_finds_where_the_route_reaches_each_stop_in_order(stops, expected):
    line = [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [2.0, 0.0], [1.0, 0.0], [0.0, 0.0]]  # [lon, lat]
    assert stop_vertices(line, [(lat, lon) for lat, lon in stops]) == expected
