"""The driver app's pages: the route page, its service worker and manifest; who may open them."""

import json

import pytest
from django.test import Client

from tests.conftest import PASSWORD


@pytest.fixture
def browser_of():
    def log_in(user) -> Client:
        client = Client()
        assert client.login(username=user.username, password=PASSWORD)
        return client

    return log_in


def initial_data(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="driver-initial" type="application/json">') + len(
        '<script id="driver-initial" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get("/driver/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=/driver/")


@pytest.mark.parametrize("persona", ["dispatcher_a", "manager"])
def test_it_refuses_the_driver_page_to_office_staff(request, browser_of, persona):
    response = browser_of(request.getfixturevalue(persona)).get("/driver/")
    assert response.status_code == 403


def test_it_shows_the_driver_their_route(browser_of, driver_a, dispatched_route):
    response = browser_of(driver_a.user).get("/driver/")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    html = response.content.decode()
    assert 'rel="manifest"' in html and "/static/js/driver.js" in html and 'data-service-worker="/driver/sw.js"' in html
    data = initial_data(response)
    assert data["route"]["plan"] == dispatched_route.plan.id
    assert [s["id"] for s in data["route"]["stops"]] == [s.id for s in dispatched_route.stops]
    assert [r["value"] for r in data["fail_reasons"]][-1] == "other"


def test_it_shows_an_empty_page_while_nothing_is_dispatched(browser_of, driver_a):
    response = browser_of(driver_a.user).get("/driver/")
    assert response.status_code == 200 and initial_data(response)["route"] is None
    assert "No route yet" in response.content.decode()


def test_it_sends_drivers_from_the_dashboard_home_to_their_app(browser_of, driver_a):
    response = browser_of(driver_a.user).get("/")
    assert response.status_code == 302 and response["Location"] == "/driver/"


def test_it_logs_a_driver_in_to_their_app(client, driver_a):
    response = client.post("/login/", {"username": driver_a.user.username, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1] == ("/driver/", 302) and response.status_code == 200


def test_it_serves_the_service_worker_scoped_to_the_driver_app(client):
    response = client.get("/driver/sw.js")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/driver/"
    body = response.content.decode()
    assert '"/static/js/driver.js"' in body and '"/static/css/driver.css"' in body
    assert 'const PAGE = "/driver/"' in body


def test_it_ships_an_installable_manifest():
    from django.contrib.staticfiles import finders

    with open(finders.find("driver/manifest.webmanifest")) as manifest_file:
        manifest = json.load(manifest_file)
    assert manifest["start_url"] == manifest["scope"] == "/driver/" and manifest["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert finders.find(f"driver/{icon['src']}"), icon
