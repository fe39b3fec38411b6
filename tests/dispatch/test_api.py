"""Fleet and order endpoints per API.md, the token endpoint, the error shape and the OpenAPI docs."""

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dispatch.models import Depot, Driver, Order, Vehicle
from dispatch.roles import DRIVER
from tests.dispatch.test_permissions import api_endpoints, openapi_path

VADUZ = ZoneInfo("Europe/Vaduz")


def assert_error_shape(response, status: int, field: str, value=...) -> dict:
    """The one error shape: {"detail", "errors": [{"field", "value"?, "message"}]}; returns the error."""
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    matching = [e for e in body["errors"] if e["field"] == field]
    assert matching, body
    assert all(e["message"] for e in body["errors"])
    if value is not ...:
        assert matching[0]["value"] == value, matching[0]
    return matching[0]


# --- Depots ----------------------------------------------------------------------------------


def test_it_creates_a_depot_as_manager(manager_client):
    response = manager_client.post(
        "/api/depots/",
        {"code": "north", "name": "North", "lat": 47.2, "lon": 9.5, "opens": "06:30", "closes": "20:00"},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in ("code", "name", "lat", "lon", "opens", "closes")} == {
        "code": "north", "name": "North", "lat": 47.2, "lon": 9.5, "opens": "06:30", "closes": "20:00",
    }  # fmt: skip
    depot = Depot.objects.get(code="north")
    assert body["id"] == depot.id
    assert manager_client.get("/api/depots/north/").json()["id"] == depot.id
    assert manager_client.get(f"/api/depots/{depot.id}/").json()["code"] == "north"


def test_it_uses_the_default_hours_for_the_side_not_given(manager_client):
    response = manager_client.post(
        "/api/depots/", {"code": "late", "name": "Late", "lat": 47, "lon": 9, "closes": "21:00"}
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["opens"], response.json()["closes"]) == ("07:00", "21:00")
    # Closing before the default opening time is a clear 400, not a server error.
    response = manager_client.post(
        "/api/depots/", {"code": "early", "name": "E", "lat": 47, "lon": 9, "closes": "06:00"}
    )
    assert assert_error_shape(response, 400, "closes")["value"].startswith("06:00")
    assert not Depot.objects.filter(code="early").exists()


def test_it_refuses_depot_writes_by_dispatchers(dispatcher_a_client):
    response = dispatcher_a_client.post("/api/depots/", {"code": "x", "name": "X", "lat": 47, "lon": 9})
    assert response.status_code == 403
    assert not Depot.objects.filter(code="x").exists()


@pytest.mark.parametrize(
    ("overrides", "field", "value"),
    [
        ({"code": "A"}, "code", "A"),
        ({"code": "not a slug"}, "code", "not a slug"),
        ({"lat": 91}, "lat", 91),
        ({"lon": -181}, "lon", -181),
        ({"opens": "18:00", "closes": "08:00"}, "closes", "08:00:00"),
        ({"opens": "7 Uhr"}, "opens", "7 Uhr"),
        ({"name": ""}, "name", ""),
    ],
)
def test_it_explains_a_bad_depot(manager_client, depot_a, overrides, field, value):
    data = {"code": "new", "name": "New", "lat": 47.1, "lon": 9.5} | overrides
    assert_error_shape(manager_client.post("/api/depots/", data), 400, field, value)
    assert Depot.objects.count() == 1


def test_it_lists_a_missing_field_without_a_value(manager_client):
    response = manager_client.post("/api/depots/", {"name": "No code", "lat": 47, "lon": 9})
    error = assert_error_shape(response, 400, "code")
    assert "required" in error["message"]


# --- Vehicles --------------------------------------------------------------------------------


def test_it_creates_a_vehicle_in_a_depot_named_by_code(dispatcher_a_client, depot_a):
    response = dispatcher_a_client.post(
        "/api/vehicles/",
        {
            "name": "Van 7", "depot": "A", "kind": "van", "capacity_kg": "750.5", "capacity_items": 80,
            "shift_start": "07:00", "shift_end": "15:30", "cost_per_km": "0.35", "cost_per_hour": "32",
            "fixed_cost": "20", "skills": ["fridge", "tail_lift"],
        },
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["depot"], body["kind"], body["profile"], body["capacity_kg"]) == ("A", "van", "car", 750.5)
    assert (body["shift_start"], body["shift_end"], body["skills"]) == ("07:00", "15:30", ["fridge", "tail_lift"])
    vehicle = Vehicle.objects.get(name="Van 7")
    assert (vehicle.depot, vehicle.capacity_items, str(vehicle.cost_per_km)) == (depot_a, 80, "0.350")
    assert dispatcher_a_client.get(f"/api/vehicles/{vehicle.id}/").json()["name"] == "Van 7"


def test_it_uses_the_default_shift_for_the_side_not_given(dispatcher_a_client, depot_a):
    base = {"depot": "A", "kind": "cargo_bike", "capacity_kg": "120"}
    response = dispatcher_a_client.post("/api/vehicles/", base | {"name": "Bike 1", "shift_end": "12:00"})
    assert response.status_code == 201, response.json()
    assert (response.json()["shift_start"], response.json()["profile"]) == ("08:00", "bike")
    response = dispatcher_a_client.post("/api/vehicles/", base | {"name": "Bike 2", "shift_end": "08:00"})
    assert assert_error_shape(response, 400, "shift_end")["value"].startswith("08:00")
    # An end before the default start is a night shift, ending the next morning.
    response = dispatcher_a_client.post("/api/vehicles/", base | {"name": "Bike 3", "shift_end": "07:00"})
    assert response.status_code == 201 and response.json()["shift_start"] == "08:00", response.json()


@pytest.mark.parametrize(
    ("overrides", "field", "value"),
    [
        ({"depot": "B"}, "depot", "B"),  # not this dispatcher's depot: unknown, as if it did not exist
        ({"depot": "nowhere"}, "depot", "nowhere"),
        ({"kind": "truck"}, "kind", "truck"),
        ({"capacity_kg": "-1"}, "capacity_kg", "-1"),
        ({"name": "A-Van-1"}, "name", "A-Van-1"),
        ({"skills": ["fridge", "not a slug"]}, "skills[1]", "not a slug"),
        ({"skills": ["not a slug"]}, "skills[0]", "not a slug"),
    ],
)
def test_it_explains_a_bad_vehicle(dispatcher_a_client, vehicle_a, depot_b, overrides, field, value):
    data = {"name": "New", "depot": "A", "kind": "van", "capacity_kg": "500"} | overrides
    before = Vehicle.objects.count()
    assert_error_shape(dispatcher_a_client.post("/api/vehicles/", data), 400, field, value)
    assert Vehicle.objects.count() == before


def test_it_filters_vehicles_by_depot_code(manager_client, vehicle_a, vehicle_b):
    assert [v["name"] for v in manager_client.get("/api/vehicles/?depot=B").json()] == ["B-Bike-1"]
    assert {v["name"] for v in manager_client.get("/api/vehicles/").json()} == {"A-Van-1", "B-Bike-1"}


# --- Drivers and tokens ----------------------------------------------------------------------


def test_it_creates_a_driver_login_that_can_get_a_token(dispatcher_a_client, vehicle_a):
    response = dispatcher_a_client.post(
        "/api/drivers/",
        {
            "username": "nina",
            "password": "s3cret-enough",
            "name": "Nina Muster",
            "phone": "+423 111 22 33",
            "vehicle": vehicle_a.id,
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["username"], body["name"], body["depot"], body["vehicle"]) == (
        "nina",
        "Nina Muster",
        "A",
        vehicle_a.id,
    )
    assert "password" not in body
    user = get_user_model().objects.get(username="nina")
    assert list(user.groups.values_list("name", flat=True)) == [DRIVER]
    assert (user.first_name, user.last_name, user.is_staff) == ("Nina", "Muster", False)
    assert Driver.objects.get(user=user).vehicle == vehicle_a

    token = APIClient().post("/api/auth/token/", {"username": "nina", "password": "s3cret-enough"})
    assert token.status_code == 200
    assert token.json()["token"] == Token.objects.get(user=user).key
    # A driver's token opens nothing in the office API.
    driver = APIClient()
    driver.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    assert driver.get("/api/orders/").status_code == 403


@pytest.mark.parametrize(
    ("overrides", "field", "value"),
    [
        ({"username": "driver_a"}, "username", "driver_a"),
        ({"username": "has space"}, "username", "has space"),
        ({"phone": "call me"}, "phone", "call me"),
        ({"vehicle": 999999}, "vehicle", 999999),
    ],
)
def test_it_explains_a_bad_driver(dispatcher_a_client, driver_a, vehicle_a, overrides, field, value):
    data = {"username": "new", "password": "long-enough-1", "name": "New Driver", "vehicle": vehicle_a.id} | overrides
    before = get_user_model().objects.count()
    assert_error_shape(dispatcher_a_client.post("/api/drivers/", data), 400, field, value)
    assert get_user_model().objects.count() == before


def test_it_never_echoes_a_password_in_an_error(dispatcher_a_client, vehicle_a):
    data = {"username": "new", "password": "short", "name": "New Driver", "vehicle": vehicle_a.id}
    response = dispatcher_a_client.post("/api/drivers/", data)
    error = assert_error_shape(response, 400, "password")
    assert "short" not in response.content.decode()
    assert error.get("value") is None


def test_it_refuses_a_vehicle_of_another_depot_for_a_driver(dispatcher_b_client, vehicle_a):
    data = {"username": "new", "password": "long-enough-1", "name": "New", "vehicle": vehicle_a.id}
    assert_error_shape(dispatcher_b_client.post("/api/drivers/", data), 400, "vehicle", vehicle_a.id)
    assert not get_user_model().objects.filter(username="new").exists()


def test_it_refuses_wrong_credentials_at_the_token_endpoint(dispatcher_a):
    response = APIClient().post("/api/auth/token/", {"username": "disp_a", "password": "wrong"})
    assert response.status_code == 400
    assert response.json()["detail"] and response.json()["errors"]
    assert "token" not in response.json()
    assert "wrong" not in response.content.decode()


# --- Orders ----------------------------------------------------------------------------------


@pytest.fixture
def orders(depot_a, depot_b):
    def make(reference, depot, day, status=Order.Status.NEW, **fields):
        return Order.objects.create(
            reference=reference, date=day, depot=depot, lat=47.14, lon=9.52, status=status, **fields
        )

    return {
        "a1": make("A1", depot_a, date(2026, 5, 4), customer_name="Anna",
                   window_start=datetime(2026, 5, 4, 9, tzinfo=VADUZ), window_end=datetime(2026, 5, 4, 12, tzinfo=VADUZ)),
        "a2": make("A2", depot_a, date(2026, 5, 4), Order.Status.PLANNED),
        "a3": make("A3", depot_a, date(2026, 5, 5), Order.Status.DELIVERED),
        "b1": make("B1", depot_b, date(2026, 5, 4)),
    }  # fmt: skip


def _references(client, query: str = "") -> list[str]:
    response = client.get(f"/api/orders/{query}")
    assert response.status_code == 200, response.json()
    return [order["reference"] for order in response.json()]


def test_it_filters_orders_by_date_status_and_depot(manager_client, orders):
    assert sorted(_references(manager_client)) == ["A1", "A2", "A3", "B1"]
    assert sorted(_references(manager_client, "?date=2026-05-04")) == ["A1", "A2", "B1"]
    assert _references(manager_client, "?date=2026-05-05") == ["A3"]
    assert sorted(_references(manager_client, "?status=new")) == ["A1", "B1"]
    assert sorted(_references(manager_client, "?status=planned,delivered")) == ["A2", "A3"]
    assert sorted(_references(manager_client, "?depot=A")) == ["A1", "A2", "A3"]
    assert _references(manager_client, "?depot=B&date=2026-05-04&status=new") == ["B1"]
    assert _references(manager_client, "?date=2026-05-06") == []


def test_it_explains_bad_order_filters(manager_client, orders):
    assert_error_shape(manager_client.get("/api/orders/?date=2026-02-30"), 400, "date")
    assert_error_shape(manager_client.get("/api/orders/?status=lost"), 400, "status")


def test_it_shows_an_order_with_the_fields_of_the_contract(dispatcher_a_client, orders):
    from customers.tracking_links import tracking_links_create

    tracking_links_create(orders=[orders["a1"]])
    response = dispatcher_a_client.get(f"/api/orders/{orders['a1'].id}/")
    assert response.status_code == 200
    body = response.json()
    for field in (
        "id",
        "reference",
        "date",
        "status",
        "lat",
        "lon",
        "window_start",
        "window_end",
        "customer_name",
        "tracking_url",
    ):
        assert field in body, field
    assert (body["reference"], body["date"], body["status"], body["customer_name"]) == (
        "A1",
        "2026-05-04",
        "new",
        "Anna",
    )
    assert (body["lat"], body["lon"], body["depot"]) == (47.14, 9.52, "A")
    # ISO 8601 with the offset of the local zone.
    assert datetime.fromisoformat(body["window_start"]) == datetime(2026, 5, 4, 9, tzinfo=VADUZ)
    assert re.search(r"[+-]\d\d:\d\d$", body["window_start"])
    assert re.fullmatch(r"http://testserver/t/[\w-]{20,}/", body["tracking_url"])
    assert APIClient().get(body["tracking_url"].removeprefix("http://testserver")).status_code == 200
    # Without a tracking link the field is there and empty.
    assert dispatcher_a_client.get(f"/api/orders/{orders['a2'].id}/").json()["tracking_url"] is None
    assert dispatcher_a_client.get("/api/orders/999999/").status_code == 404


# --- OpenAPI and docs ------------------------------------------------------------------------


def test_it_documents_every_api_path_in_the_schema(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    documented = set(schema["paths"])
    served_by_schema_views = {"api/schema/", "api/docs/", "api/redoc/"}
    expected = {openapi_path(route) for route in api_endpoints() if route not in served_by_schema_views}
    assert expected - documented == set()


def test_it_gives_each_request_body_its_own_schema(client):
    schema = client.get("/api/schema/?format=json").json()

    def request_properties(path):
        content = schema["paths"][path]["post"]["requestBody"]["content"]
        ref = next(iter(content.values()))["schema"]["$ref"]
        return set(schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"])

    assert {"code", "name", "lat", "lon"} <= request_properties("/api/depots/")
    assert {"username", "password", "name", "vehicle"} <= request_properties("/api/drivers/")


@pytest.mark.parametrize(
    "path",
    [
        "/api/docs/",
        "/api/redoc/",
    ],
)
def test_it_serves_the_api_docs_from_local_assets_only(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert references, "the page loads no assets at all?"
    external = [url for url in references if re.match(r"^(?:https?:)?//", url)]
    assert external == []
    assert not re.search(r"https?://(?!testserver)[\w.-]+/[^\"'\s]*\.(?:js|css)", html)
