"""The driver app's route map, server side: what the page gives the map (the route's geometry, where the
streets come from, the OpenStreetMap credit), that the service worker keeps every file the page loads
(so that the page opened without signal has its map), and the route's geometry in the OpenAPI schema."""

import json
import posixpath
import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from tests.dispatch.test_basemap import built_tiles  # noqa: F401 - the tiles fixture
from tests.driver.test_driver_pages import initial_data

STATIC_FILE = re.compile(r'<(?:script|link)\b[^>]*?\b(?:src|href)="(/static/[^"]+)"')


def _page(driver):
    client = Client()
    client.force_login(driver.user)
    return client.get("/driver/")


def _shell(client) -> list[str]:
    body = client.get("/driver/sw.js").content.decode()
    return json.loads("[" + body.split("const SHELL = [", 1)[1].split("];", 1)[0].rstrip(", ") + "]")


def test_the_page_gives_the_map_the_route_and_no_streets_before_tiles_are_built(
    settings, tmp_path, driver_a, dispatched_route
):
    settings.MAP_TILE_URL = ""
    settings.MAP_TILES_DIR = tmp_path / "none"
    response = _page(driver_a)
    data = initial_data(response)
    geometry = data["route"]["geometry"]
    assert geometry["type"] == "LineString" and len(geometry["coordinates"]) == 3
    assert data["map"]["base_map"] is None and data["map"]["tile_url"] == ""
    assert "OpenStreetMap</a> contributors" in data["map"]["osm_credit"]
    html = response.content.decode()
    assert "/static/vendor/leaflet/leaflet.js" in html and 'type="module" src="/static/js/driver_map.js"' in html
    assert "maplibre" not in html
    assert 'id="view-map"' in html and 'id="route-map"' in html


def test_the_page_draws_the_apps_own_tiles_once_they_are_built(
    settings,
    driver_a,
    dispatched_route,
    built_tiles,  # noqa: F811 - the fixture imported above
):
    settings.MAP_TILE_URL = ""
    settings.MAP_TILES_DIR = built_tiles
    response = _page(driver_a)
    base_map = initial_data(response)["map"]["base_map"]
    assert base_map["tiles"].startswith("/map/tiles/{z}/{x}/{y}.pbf?v=")
    html = response.content.decode()
    assert "/static/vendor/maplibre-gl/maplibre-gl-csp.js" in html and "/static/js/basemap.js" in html


def test_the_page_uses_the_companys_tile_server_where_it_has_one(settings, driver_a, dispatched_route):
    settings.MAP_TILE_URL = "https://tiles.example.li/{z}/{x}/{y}.png"
    settings.MAP_TILE_ATTRIBUTION = "Tiles: Example AG"
    data = initial_data(_page(driver_a))["map"]
    assert data["tile_url"] == settings.MAP_TILE_URL and data["tile_attribution"] == "Tiles: Example AG"
    assert data["base_map"] is None


@pytest.mark.parametrize("tiles", [False, True], ids=["without-tiles", "with-tiles"])
def test_the_service_worker_keeps_every_file_the_page_loads(
    request,
    settings,
    tmp_path,
    driver_a,
    dispatched_route,
    tiles,
):
    settings.MAP_TILE_URL = ""
    settings.MAP_TILES_DIR = request.getfixturevalue("built_tiles") if tiles else tmp_path / "none"
    client = Client()
    client.force_login(driver_a.user)
    html = client.get("/driver/").content.decode()
    shell = _shell(client)
    loaded = set(STATIC_FILE.findall(html))
    # What the modules import, and the worker MapLibre starts: loaded by script, not by a tag.
    loaded |= {"/static/js/lib/map_layers.js", "/static/js/lib/dom.js", "/static/js/lib/i18n.js"}
    if tiles:
        loaded.add(initial_data(client.get("/driver/"))["map"]["base_map"]["worker"])
    assert loaded - set(shell) == set()
    assert ("/static/vendor/maplibre-gl/maplibre-gl-csp.js" in shell) is tiles


def test_every_module_the_route_map_imports_is_in_the_service_workers_list(client):
    shell = set(_shell(client))
    pending, seen = ["js/driver_map.js"], set()
    while pending:
        path = pending.pop()
        seen.add(path)
        with open(finders.find(path)) as module:
            for name in re.findall(r'^import .* from "(\.[^"]+)";', module.read(), re.MULTILINE):
                imported = posixpath.normpath(posixpath.join(posixpath.dirname(path), name))
                if imported not in seen:
                    pending.append(imported)
    assert len(seen) >= 4 and {f"/static/{path}" for path in seen} <= shell, seen


def test_the_openapi_schema_documents_the_routes_geometry(anonymous_client):
    schema = anonymous_client.get("/api/schema/?format=json").json()
    route = schema["components"]["schemas"]["DriverRouteOutput"]["properties"]
    assert "LineString" in route["geometry"]["description"] and "[lon, lat]" in route["geometry"]["description"]
