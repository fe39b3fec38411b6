"""The dispatcher dashboard: access by persona, the Today page and its map, the CSV upload page."""

import html
import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from dispatch.maps import drawing as maps
from dispatch.models import Order, Zone
from tests.offline_pages import without_random_letters

ASSET_PATTERN = re.compile(r"<(?:script|link)\b[^>]*?\b(?:src|href)=[\"']([^\"']+)[\"']", re.IGNORECASE)


def _local(day, hour, minute=0):
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(settings.TIME_ZONE))


def _square(lon, lat, size=0.02):
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.fixture
def zone_a(depot_a):
    return Zone.objects.create(code="centre-a", name="Centre A", depot=depot_a, polygon=_square(9.51, 47.13))


@pytest.fixture
def zone_b(depot_b):
    return Zone.objects.create(code="north-b", name="North B", depot=depot_b, polygon=_square(9.52, 47.19))


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def orders(depot_a, depot_b, zone_a, zone_b, today):
    def make(reference, depot, zone, **fields):
        values = {"date": today, "lat": depot.lat + 0.001, "lon": depot.lon + 0.001, "customer_name": "Someone"}
        values.update(fields)
        return Order.objects.create(reference=reference, depot=depot, zone=zone, **values)

    return {
        "a1": make(
            "A-001", depot_a, zone_a, customer_name="Anna Büchel", address="Städtle 1, 9490 Vaduz",
            window_start=_local(today, 9), window_end=_local(today, 12), weight_kg=4.5, skills=["fridge"],
        ),
        "a2": make("A-002", depot_a, zone_a, customer_name="Lukas Frick", status=Order.Status.PLANNED),
        "a3": make("A-003", depot_a, None, customer_name="Sophie Marxer", address="Landstrasse 5, 9494 Schaan"),
        "a_tomorrow": make("A-TOMORROW", depot_a, zone_a, date=today + timedelta(days=1)),
        "b1": make("B-001", depot_b, zone_b, customer_name="Bernd Beck", address="Essanestrasse 1, 9492 Eschen"),
    }  # fmt: skip


@pytest.fixture
def stranger(db):
    """Logged in, but no role at all."""
    return get_user_model().objects.create_user(username="stranger", password="x-irrelevant-x")


def _references(response) -> list[str]:
    return [o.reference for o in response.context["orders"]]


def _asset_urls(document: str) -> list[str]:
    return ASSET_PATTERN.findall(document)


# --- Access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/orders/import/"])
def test_it_sends_anonymous_visitors_to_the_login_page(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/login/?next={url}")


def test_it_shows_the_login_form(client, db):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b'name="password"' in response.content


def test_it_logs_in_and_lands_on_today(client, dispatcher_a):
    from tests.conftest import PASSWORD

    response = client.post("/login/", {"username": "disp_a", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_it_logs_out_with_a_post(client, dispatcher_a):
    client.force_login(dispatcher_a)
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_it_refuses_drivers_on_office_pages(client, driver_a):
    client.force_login(driver_a.user)
    assert client.get("/orders/import/").status_code == 403
    assert client.post("/orders/import/", {}).status_code == 403


def test_it_refuses_users_without_a_role(client, stranger):
    client.force_login(stranger)
    assert client.get("/").status_code == 403
    assert client.get("/orders/import/").status_code == 403


def test_it_shows_the_admin_link_to_staff_only(client, dispatcher_a, manager):
    client.force_login(dispatcher_a)
    assert b'href="/admin/"' not in client.get("/").content
    client.force_login(manager)
    assert b'href="/admin/"' in client.get("/").content


# --- Today page ----------------------------------------------------------------------------------


def test_it_shows_a_dispatcher_only_their_depots_orders(client, dispatcher_a, orders):
    client.force_login(dispatcher_a)
    response = client.get("/")
    assert response.status_code == 200
    assert _references(response) == ["A-001", "A-002", "A-003"]
    assert b"B-001" not in response.content
    assert "Bernd Beck" not in response.context["map_html"]
    assert "B-001" not in response.context["map_html"]
    assert "North B" not in response.context["map_html"]  # the other depot's zone
    assert [c[0] for c in response.context["form"].fields["depot"].choices] == ["", "A"]


def test_it_shows_managers_every_depot(client, manager, orders):
    client.force_login(manager)
    response = client.get("/")
    assert _references(response) == ["A-001", "A-002", "A-003", "B-001"]
    assert "B-001" in response.context["map_html"]


def test_it_defaults_to_today_and_opens_other_days(client, dispatcher_a, orders, today):
    client.force_login(dispatcher_a)
    assert response_day(client.get("/")) == today
    response = client.get("/", {"date": (today + timedelta(days=1)).isoformat()})
    assert _references(response) == ["A-TOMORROW"]


def response_day(response):
    return response.context["day"]


def test_it_falls_back_to_today_on_a_bad_date(client, dispatcher_a, orders, today):
    client.force_login(dispatcher_a)
    response = client.get("/", {"date": "2026-13-45"})
    assert response.status_code == 200
    assert response_day(response) == today


def test_it_filters_by_status(client, dispatcher_a, orders):
    client.force_login(dispatcher_a)
    assert _references(client.get("/", {"status": "planned"})) == ["A-002"]


def test_it_filters_by_zone(client, dispatcher_a, orders):
    client.force_login(dispatcher_a)
    assert _references(client.get("/", {"zone": "centre-a"})) == ["A-001", "A-002"]


def test_it_searches_reference_name_and_address(client, dispatcher_a, orders):
    client.force_login(dispatcher_a)
    assert _references(client.get("/", {"q": "a-003"})) == ["A-003"]
    assert _references(client.get("/", {"q": "frick"})) == ["A-002"]
    assert _references(client.get("/", {"q": "Schaan"})) == ["A-003"]


def test_it_filters_by_depot_for_managers(client, manager, orders):
    client.force_login(manager)
    response = client.get("/", {"depot": "B"})
    assert _references(response) == ["B-001"]
    assert "A-001" not in response.context["map_html"]


def test_it_ignores_a_depot_the_dispatcher_may_not_see(client, dispatcher_a, orders):
    client.force_login(dispatcher_a)
    response = client.get("/", {"depot": "B"})
    assert response.status_code == 200
    assert "depot" in response.context["form"].errors
    assert "B-001" not in _references(response)


def test_it_counts_orders_per_status_under_the_other_filters(client, dispatcher_a, orders):
    client.force_login(dispatcher_a)
    response = client.get("/", {"status": "planned"})
    chips = {chip["value"]: chip["count"] for chip in response.context["status_chips"]}
    assert chips == {"new": 2, "planned": 1}
    assert response.context["total_count"] == 3


def test_it_shows_the_order_columns_in_local_time(client, dispatcher_a, orders):
    client.force_login(dispatcher_a)
    content = client.get("/").content.decode()
    row = content[content.index(f'data-order="{orders["a1"].id}"') :].split("</tr>")[0]
    for text in ("A-001", "Anna Büchel", "Städtle 1, 9490 Vaduz", "09:00–12:00", "New", "4.5", "fridge", "Centre A"):
        assert text in row


def test_it_labels_open_ended_windows(depot_a, today):
    order = Order(date=today, window_start=None, window_end=_local(today + timedelta(days=1), 0))
    assert maps.order_window_label(order) == "until 24:00"
    order.window_start = _local(today, 14)
    order.window_end = None
    assert maps.order_window_label(order) == "from 14:00"
    order.window_start = None
    assert maps.order_window_label(order) == "any time"


# --- Map ------------------------------------------------------------------------------------------


def test_it_draws_the_map_from_local_assets_only(client, dispatcher_a, orders):
    client.force_login(dispatcher_a)
    response = client.get("/")
    page = response.content.decode()
    map_html = response.context["map_html"]
    assert html.escape(map_html, quote=True) in page  # embedded in the page (iframe srcdoc)

    for document in (page, map_html):
        urls = _asset_urls(document)
        assert urls, "expected script and stylesheet links"
        # Local only: static files, and the JavaScript texts of the active language (served by the app).
        assert all(url.startswith("/static/") or url == "/jsi18n/" for url in urls), urls
    assert "/static/vendor/leaflet/leaflet.js" in _asset_urls(map_html)
    assert "/static/vendor/leaflet/leaflet.css" in _asset_urls(map_html)
    # Look for libraries outside the page's random letters (a CSP nonce once read "...zcdnoe4").
    outside_random_letters = without_random_letters(map_html).lower()
    for unwanted in ("jquery", "bootstrap", "awesome", "font-awesome", "fontawesome", "cdn"):
        assert unwanted not in outside_random_letters


def test_it_credits_openstreetmap_on_every_map(client, dispatcher_a, depot_a, today):
    client.force_login(dispatcher_a)
    map_html = client.get("/").context["map_html"]  # no orders at all
    assert "OpenStreetMap" in map_html and "contributors" in map_html
    assert "setPrefix" in map_html


def test_it_draws_no_tiles_unless_a_tile_url_is_set(client, dispatcher_a, orders, settings):
    client.force_login(dispatcher_a)
    settings.MAP_TILE_URL = ""
    assert "L.tileLayer" not in client.get("/").context["map_html"]
    settings.MAP_TILE_URL = "/tiles/{z}/{x}/{y}.png"
    map_html = client.get("/").context["map_html"]
    assert "L.tileLayer" in map_html
    assert "/tiles/{z}/{x}/{y}.png" in map_html


def test_it_puts_orders_depots_and_zones_on_the_map(client, dispatcher_a, orders):
    client.force_login(dispatcher_a)
    map_html = client.get("/").context["map_html"]
    assert "DispatchMap.orders(" in map_html
    assert "DispatchMap.depots(" in map_html
    assert "DispatchMap.zones(" in map_html
    assert maps.STATUS_COLORS["planned"] in map_html
    assert "09:00–12:00" in map_html


def test_it_keeps_customer_text_from_breaking_out_of_the_map_script(depot_a, today):
    order = Order(
        id=1, reference="X-1", date=today, depot=depot_a, lat=47.1, lon=9.5, customer_name="</script><b>x</b>"
    )
    map_html = maps.orders_map_html(orders=[order], depots=[depot_a], zones=[])
    assert "</script><b>" not in map_html
    assert "\\u003C/script\\u003E" in map_html


# --- CSV upload ------------------------------------------------------------------------------------


def _csv(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("orders.csv", text.encode(), content_type="text/csv")


def test_it_shows_the_import_form_and_format_help(client, dispatcher_a):
    client.force_login(dispatcher_a)
    response = client.get("/orders/import/")
    assert response.status_code == 200
    content = response.content.decode()
    assert 'type="file"' in content and 'enctype="multipart/form-data"' in content
    for column in ("reference", "date", "depot", "window_start", "window_end", "weight_kg", "skills", "priority"):
        assert f"<code>{column}</code>" in content
    assert "semicolon" in content


def test_it_imports_a_good_csv(client, dispatcher_a, depot_a, today):
    client.force_login(dispatcher_a)
    day = today + timedelta(days=2)
    data = (
        "reference;date;depot;customer_name;latitude;longitude;window_start;window_end;weight_kg;colour\n"
        f"UP-1;{day};A;Anna;47.14;9.52;09:00;12:00;4,5;red\n"
        f"UP-2;{day};A;Lukas;47.15;9.53;;;12;blue\n"
    )
    response = client.post("/orders/import/", {"file": _csv(data)}, follow=True)
    assert response.redirect_chain[-1][0] == f"/?date={day.isoformat()}"
    assert sorted(Order.objects.values_list("reference", flat=True)) == ["UP-1", "UP-2"]
    content = response.content.decode()
    assert "2 order(s) imported — 2 new, 0 updated" in content
    assert "colour" in content and "unknown column" in content  # the warning
    assert _references(response) == ["UP-2", "UP-1"] or _references(response) == ["UP-1", "UP-2"]


def test_it_lists_every_error_of_a_bad_csv_and_writes_nothing(client, dispatcher_a, depot_a, today):
    client.force_login(dispatcher_a)
    data = (
        "reference,date,depot,latitude,longitude,window_start,window_end\n"
        f"OK-1,{today},A,47.14,9.52,09:00,12:00\n"
        f"BAD-1,{today},A,147.14,9.52,,\n"
        f"BAD-2,not-a-date,A,47.14,9.52,12:00,09:00\n"
    )
    response = client.post("/orders/import/", {"file": _csv(data)})
    assert response.status_code == 400  # the form comes back with the errors, as a 4xx
    assert not Order.objects.exists()
    errors = response.context["errors"]
    assert {(e["row"], e["field"]) for e in errors} >= {(3, "latitude"), (4, "date")}
    content = response.content.decode()
    assert "nothing was imported" in content
    assert "147.14" in content and "not-a-date" in content
    assert "<th>Row</th>" in content.replace(' class="num"', "")


def test_it_refuses_an_import_into_another_depot(client, dispatcher_a, depot_b, today):
    client.force_login(dispatcher_a)
    response = client.post(
        "/orders/import/", {"file": _csv(f"reference,date,depot,latitude,longitude\nX-1,{today},B,47.2,9.5\n")}
    )
    assert response.status_code == 400
    assert [e["field"] for e in response.context["errors"]] == ["depot"]
    assert not Order.objects.exists()


def test_it_asks_for_a_file(client, dispatcher_a):
    client.force_login(dispatcher_a)
    response = client.post("/orders/import/", {})
    assert response.status_code == 400
    assert response.context["errors"][0]["field"] == "file"
