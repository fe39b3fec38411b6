"""The zone editor in the admin: a map to draw the polygon, colour pickers, and the polygon's checks."""

import json
import math
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from hypothesis import assume, given
from hypothesis import strategies as st

from dispatch.admin_widgets import DeliveryRegion, delivery_region, ring_crossing, validate_zone_polygon
from dispatch.models import Zone
from tests.conftest import PASSWORD
from tests.routes.conftest import demo_network_dir, road_network  # noqa: F401 - fixtures for the region test

# Around Vaduz, [lon, lat] as GeoJSON and the map write them.
SQUARE = {"type": "Polygon", "coordinates": [[[9.5, 47.1], [9.6, 47.1], [9.6, 47.2], [9.5, 47.2], [9.5, 47.1]]]}
DRAWN = {
    "type": "Polygon",
    "coordinates": [[[9.51234, 47.13011], [9.53871, 47.12602], [9.54502, 47.14455], [9.51898, 47.15013], [9.51234, 47.13011]]],
}  # fmt: skip
BOW_TIE = {"type": "Polygon", "coordinates": [[[9.5, 47.1], [9.6, 47.2], [9.6, 47.1], [9.5, 47.2], [9.5, 47.1]]]}
TWO_CORNERS = {"type": "Polygon", "coordinates": [[[9.5, 47.1], [9.6, 47.1], [9.5, 47.1], [9.6, 47.1]]]}
NOT_CLOSED = {"type": "Polygon", "coordinates": [[[9.5, 47.1], [9.6, 47.1], [9.6, 47.2], [9.5, 47.2]]]}
SWAPPED = {"type": "Polygon", "coordinates": [[[47.1, 9.5], [47.1, 9.6], [47.2, 9.6], [47.2, 9.5], [47.1, 9.5]]]}
VIENNA = {"type": "Polygon", "coordinates": [[[16.3, 48.2], [16.4, 48.2], [16.4, 48.3], [16.3, 48.2]]]}

ADD_URL = reverse("admin:dispatch_zone_add")


def _change_url(zone) -> str:
    return reverse("admin:dispatch_zone_change", args=[zone.pk])


@pytest.fixture
def manager_web(manager):
    client = Client()
    client.force_login(manager)
    return client


def _form(depot, **overrides) -> dict:
    data = {
        "code": "vaduz-centre",
        "name": "Vaduz centre",
        "depot": depot.pk,
        "color": "#16a34a",
        "polygon": json.dumps(DRAWN),
        "access_time_s": 90,
    }
    data.update(overrides)
    return data


def _errors(response) -> list[str]:
    return response.context["adminform"].form.errors.get("polygon", []) + response.context["adminform"].form.errors.get(
        "color", []
    )


# --- Who gets in ---------------------------------------------------------------------------------


def test_it_shows_the_manager_a_map_with_the_drawing_tools_the_depots_and_the_other_zones(manager_web, depot_a):
    other = Zone.objects.create(code="schaan", name="Schaan", depot=depot_a, polygon=SQUARE, color="#9333ea")
    response = manager_web.get(ADD_URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="zone-map-frame"' in page and "data-zone-editor" in page
    assert 'src="/static/js/admin_zone_map.js"' in page  # the page's half of the editor
    frame = re.search(r'srcdoc="([^"]*)"', page).group(1)
    assert "leaflet.draw.js" in frame and "admin_zone_map.js" in frame
    assert "DispatchMap.zoneEditor" in frame and "DispatchMap.depots" in frame
    assert depot_a.code in frame and other.name in frame  # bearings: the depot and the other zone
    assert '<input type="color" name="color"' in page
    assert response.context["adminform"].form.fields["polygon"].widget.__class__.__name__ == "ZonePolygonWidget"


@pytest.mark.parametrize("persona", ["dispatcher_a", "driver_a"])
def test_it_sends_dispatchers_and_drivers_to_the_admin_login(request, persona, depot_a):
    user = request.getfixturevalue(persona)
    user = getattr(user, "user", user)  # a driver fixture is the Driver row
    client = Client()
    client.force_login(user)
    zone = Zone.objects.create(code="z", name="Z", depot=depot_a, polygon=SQUARE)
    for url in (ADD_URL, _change_url(zone)):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    response = client.post(_change_url(zone), _form(depot_a, polygon=json.dumps(DRAWN)))
    assert response.status_code == 302
    zone.refresh_from_db()
    assert zone.polygon == SQUARE


def test_it_refuses_staff_without_zone_permissions(depot_a):
    clerk = get_user_model().objects.create_user(username="clerk", password=PASSWORD, is_staff=True)
    client = Client()
    client.force_login(clerk)
    assert client.get(ADD_URL).status_code == 403


# --- The round trip ------------------------------------------------------------------------------


def test_it_saves_the_drawn_polygon_and_colour_and_shows_them_again(manager_web, depot_a):
    response = manager_web.post(ADD_URL, _form(depot_a, color="#16A34A"))
    assert response.status_code == 302, _errors(response)
    zone = Zone.objects.get(code="vaduz-centre")
    assert zone.polygon == DRAWN
    assert zone.color == "#16a34a"  # stored lower-case, as the picker sends it

    page = manager_web.get(_change_url(zone)).content.decode()
    assert "Area with 4 corners." in page
    textarea = re.search(r'<textarea name="polygon"[^>]*>([^<]*)</textarea>', page).group(1)
    assert json.loads(textarea.replace("&quot;", '"')) == DRAWN
    assert 'value="#16a34a"' in page
    frame = re.search(r'srcdoc="([^"]*)"', page).group(1)
    assert "9.51234" in frame  # the map opens on the zone's own polygon


def test_it_keeps_a_polygon_with_a_hole_and_a_double_clicked_corner(manager_web, depot_a):
    outer = [[9.5, 47.1], [9.6, 47.1], [9.6, 47.1], [9.6, 47.2], [9.5, 47.2], [9.5, 47.1]]
    hole = [[9.52, 47.12], [9.55, 47.12], [9.55, 47.15], [9.52, 47.12]]
    polygon = {"type": "Polygon", "coordinates": [outer, hole]}
    response = manager_web.post(ADD_URL, _form(depot_a, polygon=json.dumps(polygon)))
    assert response.status_code == 302, _errors(response)
    assert Zone.objects.get().polygon == polygon


# --- Bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "polygon, expected",
    [
        (BOW_TIE, "Polygon: the outline crosses itself: the edge from [9.500000, 47.100000] to [9.600000, 47.200000]"),
        (TWO_CORNERS, "Polygon: the outline has 2 different corner(s)"),
        (NOT_CLOSED, "Polygon: the outline is not closed: it starts at [9.500000, 47.100000] and ends at [9.500000, 47.200000]"),
        (SWAPPED, "Polygon: corner 1 of the outline, [47.100000, 9.500000], lies outside the delivery region"),
        (VIENNA, "50 km around the depots"),
        ({"type": "Point", "coordinates": [9.5, 47.1]}, 'Polygon: {"type": "Point", "coordinates": [9.5, 47.1]} is not a GeoJSON Polygon'),
        ({"type": "Polygon", "coordinates": [[[9.5, 47.1], [9.6, "north"], [9.6, 47.2], [9.5, 47.1]]]}, 'position 2 of the outline is [9.6, "north"], not two numbers'),
    ],
)  # fmt: skip
def test_it_refuses_a_bad_polygon_naming_the_field_and_the_value(manager_web, depot_a, polygon, expected):
    response = manager_web.post(ADD_URL, _form(depot_a, polygon=json.dumps(polygon)))
    assert response.status_code == 200
    errors = _errors(response)
    assert any(expected in error for error in errors), errors
    assert not Zone.objects.exists()
    # The refused text stays in the form, to be corrected rather than drawn again.
    assert response.context["adminform"].form["polygon"].value() == json.dumps(polygon)


def test_it_refuses_text_that_is_not_json_and_an_empty_drawing(manager_web, depot_a):
    response = manager_web.post(ADD_URL, _form(depot_a, polygon="{lon: 9.5"))
    assert any("Polygon: {lon: 9.5 is not GeoJSON text" in e for e in _errors(response)), _errors(response)
    assert '<details class="zone-editor-geojson" open>' in response.content.decode()
    response = manager_web.post(ADD_URL, _form(depot_a, polygon=""))
    assert any("draw the zone on the map" in e for e in _errors(response)), _errors(response)
    assert not Zone.objects.exists()


def test_it_keeps_the_stored_polygon_when_an_edit_is_refused(manager_web, depot_a):
    zone = Zone.objects.create(code="vaduz-centre", name="Vaduz centre", depot=depot_a, polygon=DRAWN)
    response = manager_web.post(_change_url(zone), _form(depot_a, polygon=json.dumps(BOW_TIE)))
    assert response.status_code == 200 and any("crosses itself" in e for e in _errors(response))
    zone.refresh_from_db()
    assert zone.polygon == DRAWN


@pytest.mark.parametrize("color", ["red", "#fff", "#12345g", "#3b82f6ff", "3b82f6"])
def test_it_refuses_a_colour_that_is_not_rrggbb(manager_web, depot_a, color):
    response = manager_web.post(ADD_URL, _form(depot_a, color=color))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["color"]
    assert errors == [f"Colour: {color!r} is not a colour written #rrggbb, e.g. #3b82f6."]
    assert not Zone.objects.exists()


# --- The delivery region -------------------------------------------------------------------------


def test_the_region_is_the_road_network_with_a_margin(road_network, depot_a):  # noqa: F811 - the fixture imported above
    region = delivery_region()
    assert region is not None and "road network" in region.source
    assert region.contains(9.52, 47.14)  # Vaduz
    assert not region.contains(8.54, 47.37)  # Zürich
    with pytest.raises(Exception, match="outside the delivery region.*road network"):
        validate_zone_polygon(
            {"type": "Polygon", "coordinates": [[[8.5, 47.3], [8.6, 47.3], [8.6, 47.4], [8.5, 47.3]]]}, region=region
        )


def test_without_depots_or_network_any_place_on_earth_is_accepted(db):
    assert delivery_region() is None
    assert validate_zone_polygon(VIENNA, region=None) == VIENNA


# --- Self-intersection, as a property --------------------------------------------------------------


def _ring(points):
    return [list(p) for p in points] + [list(points[0])]


@given(st.lists(st.floats(0, 2 * math.pi - 1e-3, allow_nan=False), min_size=3, max_size=40, unique=True))
def test_a_convex_outline_never_crosses_itself(angles):
    angles = sorted(angles)
    # Corners at least ~5 mm apart: closer ones are not a drawing, and float rounding decides them.
    assume(all(b - a > 1e-6 for a, b in zip(angles, angles[1:], strict=False)))
    points = [(9.5 + 0.05 * math.cos(a), 47.15 + 0.05 * math.sin(a)) for a in angles]
    polygon = {"type": "Polygon", "coordinates": [_ring(points)]}
    region = DeliveryRegion(9.0, 46.9, 10.0, 47.5, "test")
    assert validate_zone_polygon(polygon, region=region) == polygon


@given(st.floats(0.001, 0.1), st.floats(0.001, 0.1))
def test_a_bow_tie_always_crosses_itself(width, height):
    points = [(9.5, 47.1), (9.5 + width, 47.1 + height), (9.5 + width, 47.1), (9.5, 47.1 + height)]
    assert ring_crossing([tuple(p) for p in _ring(points)]) is not None
