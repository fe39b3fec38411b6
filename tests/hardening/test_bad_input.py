"""Bad input at the doors: the CSV import (API and dashboard page) and the JSON APIs.

Every refusal is a 4xx whose body says what was wrong and where, in the one error shape of
config/exceptions.py ({"detail", "errors": [{"row"?, "field", "value"?, "message"}]}), and nothing is
written: each test counts the rows before and after. The service-level cases of every single bad
field live in tests/dispatch/test_import.py; here the same kinds of mistake arrive over HTTP.
"""

import codecs
import math
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from customers.models import CustomerMessage, Feedback, TrackingLink
from customers.tracking_links import tracking_links_create
from customers.tracking_tokens import token_for_nonce
from dispatch.models import Customer, Depot, DriverPosition, Order, OrderStatusChange, Vehicle
from routes.models import Plan, RoadClosure
from tests.driver.conftest import PNG_BYTES, write_plan

IMPORT_URL = "/api/orders/import/"
HEADER = "reference,date,depot,customer_name,latitude,longitude,window_start,window_end,weight_kg,skills"
GOOD_ROW = "R-1,2026-05-04,A,Anna,47.141,9.521,09:00,12:00,2.5,fridge"


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def row(**overrides) -> str:
    """GOOD_ROW with some cells replaced, by column name."""
    names = HEADER.split(",")
    cells = dict(zip(names, GOOD_ROW.split(",")))
    cells.update(overrides)
    return ",".join(cells[name] for name in names)


def counts() -> dict:
    models = (
        Order, Customer, OrderStatusChange, TrackingLink, Vehicle, Depot, RoadClosure, DriverPosition,
        Feedback, CustomerMessage, Plan,
    )  # fmt: skip
    return {model.__name__: model.objects.count() for model in models}


def assert_error(response, *, status=400, field, row=None, value=..., words=""):
    """The response is the API's error shape and names `field` (and row, value) with a message."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["errors"], list) and body["errors"], body
    for error in body["errors"]:
        assert {"field", "message"} <= set(error) and error["message"], error
    matching = [
        e
        for e in body["errors"]
        if e["field"] == field
        and (row is None or e.get("row") == row)
        and (value is ... or e.get("value") == value)
        and words.lower() in e["message"].lower()
    ]
    assert matching, body
    return matching[0]


def upload(client, data: bytes, name: str = "orders.csv"):
    return client.post(IMPORT_URL, {"file": SimpleUploadedFile(name, data, "text/csv")}, format="multipart")


@pytest.fixture
def importer(dispatcher_a, depot_b, vehicle_a, settings):
    """Dispatcher A, while depot B (not theirs) exists too; the file's dates are in Vaduz time."""
    settings.TIME_ZONE = "Europe/Vaduz"
    return dispatcher_a


# --- The CSV import through the API --------------------------------------------------------------

# Whole files that are not CSV text of the contract: (file bytes, field, row, value, words in the message)
BAD_FILES = {
    "binary (a PNG)": (PNG_BYTES, "file", 0, ..., "binary"),
    "latin-1": (csv_text(row(customer_name="Zoë Müller")).encode("latin-1"), "file", 2, ..., "UTF-8"),
    "utf-16 with BOM": (codecs.BOM_UTF16_LE + csv_text(row()).encode("utf-16-le"), "file", 0, ..., "UTF-16"),
    "utf-16 without BOM": (csv_text(row()).encode("utf-16-le"), "file", 0, ..., "UTF-16"),
    "tab separated": (
        csv_text(row().replace(",", "\t"), header=HEADER.replace(",", "\t")).encode(),
        "file",
        1,
        ...,
        "tab",
    ),  # fmt: skip
    "empty": (b"", "file", 0, ..., "empty"),
    "header only": (csv_text().encode(), "", 2, ..., "no order rows"),
    "an unterminated quote": (csv_text(row(), 'R-2,2026-05-04,A,"Anna').encode(), "", 3, ..., "malformed"),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_it_refuses_a_file_that_is_not_csv_text_naming_what_and_where(dispatcher_a_client, importer, case):
    data, field, row_number, value, words = BAD_FILES[case]
    before = counts()
    assert_error(upload(dispatcher_a_client, data), field=field, row=row_number, value=value, words=words)
    assert counts() == before


# Bad rows in an otherwise good file: (rows, field, row, value, words in the message)
BAD_ROWS = {
    "duplicate reference": ([row(), row(reference="R-2"), row()], "reference", 4, "R-1", "duplicate"),
    "latitude out of range": ([row(latitude="91")], "latitude", 2, "91", "out of range"),
    "longitude out of range": ([row(longitude="-181")], "longitude", 2, "-181", "out of range"),
    "latitude NaN": ([row(latitude="NaN")], "latitude", 2, "NaN", "not a number"),
    "longitude inf": ([row(longitude="-inf")], "longitude", 2, "-inf", "not a number"),
    "30 February": ([row(date="2026-02-30")], "date", 2, "2026-02-30", "date"),
    # 29 March 2026 in Vaduz: clocks jump from 02:00 to 03:00, so 02:30 never happens that day.
    "a window start the DST change skips": (
        [row(date="2026-03-29", window_start="02:30", window_end="09:00")],
        "window_start",
        2,
        "02:30",
        "does not exist",
    ),  # fmt: skip
    "a window end the DST change skips": (
        [row(date="2026-03-29", window_start="01:00", window_end="02:15")],
        "window_end",
        2,
        "02:15",
        "does not exist",
    ),  # fmt: skip
    "window ends before it starts": (
        [row(window_start="14:00", window_end="10:00")],
        "window_end",
        2,
        "10:00",
        "before",
    ),  # fmt: skip
    "negative load": ([row(weight_kg="-3")], "weight_kg", 2, "-3", "negative"),
    "unknown depot": ([row(depot="ZZ")], "depot", 2, "ZZ", "unknown depot"),
    "another dispatcher's depot": ([row(depot="B")], "depot", 2, "B", "unknown depot"),
    "unknown skill": ([row(skills="fridge;teleport")], "skills", 2, "teleport", "unknown skill"),
}


@pytest.mark.parametrize("case", list(BAD_ROWS), ids=list(BAD_ROWS))
def test_it_refuses_a_bad_row_naming_what_and_where_and_writes_nothing(dispatcher_a_client, importer, case):
    rows, field, row_number, value, words = BAD_ROWS[case]
    # An order the bad file would otherwise update (its last row): it must stay as it was.
    assert upload(dispatcher_a_client, csv_text(row(reference="R-0")).encode()).status_code == 201
    before = counts()

    response = upload(dispatcher_a_client, csv_text(*rows, row(reference="R-0", customer_name="Changed")).encode())

    assert_error(response, field=field, row=row_number, value=value, words=words)
    assert counts() == before
    assert Order.objects.get(reference="R-0").customer_name == "Anna"


def test_it_accepts_the_encodings_and_separators_of_the_contract(dispatcher_a_client, importer):
    """The controls of the cases above: UTF-8 with a BOM (Excel's "CSV UTF-8") and semicolons."""
    with_bom = codecs.BOM_UTF8 + csv_text(row(reference="BOM-1", customer_name="Zoë")).encode()
    semicolons = csv_text(row(reference="SEMI-1").replace(",", ";"), header=HEADER.replace(",", ";")).encode()
    for data in (with_bom, semicolons):
        response = upload(dispatcher_a_client, data)
        assert response.status_code == 201, response.json()
    assert Order.objects.get(reference="BOM-1").customer_name == "Zoë"  # the BOM did not eat "reference"
    assert Order.objects.filter(reference="SEMI-1").exists()


def test_it_answers_413_to_an_oversized_file_and_writes_nothing(dispatcher_a_client, importer, settings):
    settings.ORDER_IMPORT_MAX_BYTES = 4096
    big = csv_text(*(row(reference=f"R-{n}") for n in range(200))).encode()
    assert len(big) > 4096
    before = counts()

    error = assert_error(upload(dispatcher_a_client, big), status=413, field="file", words="4096")
    assert error["value"] == len(big)
    assert counts() == before


def test_it_answers_413_before_reading_a_body_far_beyond_the_limit(dispatcher_a_client, importer, settings):
    """A declared length far past the limit is refused from the headers alone (nothing spooled to disk)."""
    settings.ORDER_IMPORT_MAX_BYTES = 4096
    body = b"x" * (200 * 1024)
    response = dispatcher_a_client.generic(
        "POST", IMPORT_URL, body, content_type="multipart/form-data; boundary=nothing-here"
    )
    assert_error(response, status=413, field="file", words="4096")


def test_it_names_the_missing_file_field(dispatcher_a_client, importer):
    before = counts()
    assert_error(dispatcher_a_client.post(IMPORT_URL, {"upload": "x"}, format="multipart"), field="file")
    response = dispatcher_a_client.post(IMPORT_URL, {"file": "R-1,2026-05-04"}, format="json")
    assert 400 <= response.status_code < 500 and "detail" in response.json()
    assert counts() == before


# --- The dashboard's upload page -----------------------------------------------------------------


@pytest.fixture
def dashboard(client, importer):
    client.force_login(importer)
    return client


def page_upload(client, data: bytes):
    return client.post("/orders/import/", {"file": SimpleUploadedFile("orders.csv", data, "text/csv")})


@pytest.mark.parametrize(
    "data, words",
    [
        (PNG_BYTES, "binary"),
        (csv_text(row(customer_name="Zoë")).encode("latin-1"), "UTF-8"),
        (csv_text(row(), row()).encode(), "duplicate reference"),
        (csv_text(row(latitude="NaN")).encode(), "not a number"),
        (csv_text(row(date="2026-03-29", window_start="02:30")).encode(), "does not exist"),
    ],
    ids=["binary", "latin-1", "duplicate", "nan", "dst gap"],
)
def test_the_upload_page_shows_what_and_where_with_a_4xx_and_writes_nothing(dashboard, data, words):
    before = counts()
    response = page_upload(dashboard, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "nothing was imported" in html and words.lower() in html.lower()
    assert counts() == before


def test_the_upload_page_refuses_an_oversized_file_with_413(dashboard, settings):
    settings.ORDER_IMPORT_MAX_BYTES = 4096
    before = counts()
    response = page_upload(dashboard, csv_text(*(row(reference=f"R-{n}") for n in range(200))).encode())
    assert response.status_code == 413
    assert "4096" in response.content.decode()
    assert counts() == before


def test_the_upload_page_without_a_file_says_so(dashboard):
    response = dashboard.post("/orders/import/", {})
    assert response.status_code == 400
    assert "choose a CSV file" in response.content.decode()


# --- JSON APIs -----------------------------------------------------------------------------------

GOOD_VEHICLE = {"name": "New Van", "depot": "A", "kind": "van", "capacity_kg": 500, "skills": ["fridge"]}
BAD_VEHICLES = {
    "unknown depot": ({"depot": "ZZ"}, "depot", "ZZ"),
    "another dispatcher's depot": ({"depot": "B"}, "depot", "B"),
    "negative capacity": ({"capacity_kg": -5}, "capacity_kg", -5),
    "NaN capacity": ({"capacity_kg": "NaN"}, "capacity_kg", "NaN"),
    "negative items": ({"capacity_items": -1}, "capacity_items", -1),
    "unknown kind": ({"kind": "hovercraft"}, "kind", "hovercraft"),
    "a skill that is not a name": ({"skills": ["fridge", "two person!"]}, "skills[1]", "two person!"),
    "shift ends when it starts": ({"shift_start": "17:00", "shift_end": "17:00"}, "shift_end", ...),
    "shift time that does not exist": ({"shift_start": "25:00"}, "shift_start", "25:00"),
}


@pytest.mark.parametrize("case", list(BAD_VEHICLES), ids=list(BAD_VEHICLES))
def test_it_refuses_a_bad_vehicle(dispatcher_a_client, importer, case):
    changes, field, value = BAD_VEHICLES[case]
    before = counts()
    assert_error(dispatcher_a_client.post("/api/vehicles/", {**GOOD_VEHICLE, **changes}), field=field, value=value)
    assert counts() == before


def test_the_good_vehicle_is_accepted(dispatcher_a_client, importer):
    assert dispatcher_a_client.post("/api/vehicles/", GOOD_VEHICLE).status_code == 201


@pytest.mark.parametrize(
    "body, field, value",
    [
        ({"code": "C", "name": "C", "lat": 91, "lon": 9.5}, "lat", 91),
        ({"code": "C", "name": "C", "lat": "NaN", "lon": 9.5}, "lat", "NaN"),
        ({"code": "C", "name": "C", "lat": 47.1, "lon": "Infinity"}, "lon", "Infinity"),
        ({"code": "C", "name": "C", "lat": 47.1, "lon": 9.5, "opens": "2026-02-30"}, "opens", "2026-02-30"),
        ({"code": "c d", "name": "C", "lat": 47.1, "lon": 9.5}, "code", "c d"),
    ],
    ids=["lat out of range", "lat NaN", "lon infinite", "opens not a time", "code with a space"],
)
def test_it_refuses_a_bad_depot(manager_client, importer, body, field, value):
    before = counts()
    assert_error(manager_client.post("/api/depots/", body), field=field, value=value)
    assert counts() == before


def square(lat: float, lon: float, d: float = 0.001) -> dict:
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"geometry": square(95, 9.5)}, "geometry"),
        ({"geometry": {"type": "LineString", "coordinates": [[9.5, 47.1], [9.5, "NaN"]]}}, "geometry"),
        ({"geometry": {"type": "Point", "coordinates": [9.5, 47.1]}}, "geometry"),
        ({"geometry": "not geojson"}, "geometry"),
        ({"starts_at": "2026-02-30T08:00:00+01:00"}, "starts_at"),
        ({"starts_at": "2026-05-04T12:00:00+02:00", "ends_at": "2026-05-04T08:00:00+02:00"}, "ends_at"),
        ({"reason": ""}, "reason"),
    ],
    ids=["lat out of range", "NaN coordinate", "a point", "a string", "30 February", "ends before start", "no reason"],
)
def test_it_refuses_a_bad_closure(dispatcher_a_client, importer, changes, field):
    body = {"geometry": square(47.14, 9.52), "reason": "road works", **changes}
    before = counts()
    assert_error(dispatcher_a_client.post("/api/closures/", body), field=field)
    assert counts() == before


def test_the_plan_request_names_a_date_that_does_not_exist_and_an_unknown_depot(dispatcher_a_client, importer):
    before = counts()
    assert_error(dispatcher_a_client.post("/api/plans/", {"date": "2026-02-30"}), field="date", value="2026-02-30")
    tomorrow = timezone.localdate() + timedelta(days=1)  # a day that can be planned
    response = dispatcher_a_client.post("/api/plans/", {"date": str(tomorrow), "depot": "ZZ"})
    assert_error(response, field="depot", value="ZZ")
    yesterday = timezone.localdate() - timedelta(days=1)  # a day that is over
    response = dispatcher_a_client.post("/api/plans/", {"date": str(yesterday), "depot": "A"})
    assert_error(response, field="date", value=str(yesterday), words="is over")
    assert counts() == before


BAD_POSITIONS = {
    "latitude out of range": ({"lat": 91}, "positions[0].lat", 91),
    "NaN as a string": ({"lat": "NaN"}, "positions[0].lat", "NaN"),
    "infinity as a string": ({"lon": "Infinity"}, "positions[0].lon", "Infinity"),
    "a date that does not exist": ({"recorded_at": "2026-02-30T10:00:00Z"}, "positions[0].recorded_at", ...),
    "recorded an hour ahead": ({"recorded_at": "FUTURE"}, "positions[0].recorded_at", ...),
    "negative speed": ({"speed_mps": -3}, "positions[0].speed_mps", -3),
}


@pytest.mark.parametrize("case", list(BAD_POSITIONS), ids=list(BAD_POSITIONS))
def test_it_refuses_a_bad_driver_position(driver_client, importer, case):
    changes, field, value = BAD_POSITIONS[case]
    position = {"lat": 47.14, "lon": 9.52, "recorded_at": timezone.now().isoformat(), **changes}
    if position["recorded_at"] == "FUTURE":
        position["recorded_at"] = (timezone.now() + timedelta(hours=1)).isoformat()
    good = {"lat": 47.141, "lon": 9.521, "recorded_at": timezone.now().isoformat()}
    before = counts()
    response = driver_client.post("/api/driver/positions/", {"positions": [position, good]})
    assert_error(response, field=field, value=value)
    assert counts() == before  # the good position of the batch is not stored either


def test_it_refuses_a_position_batch_with_a_json_nan_literal(driver_client, importer):
    recorded_at = timezone.now().isoformat()
    body = '{"positions": [{"lat": NaN, "lon": 9.52, "recorded_at": "' + recorded_at + '"}]}'
    before = counts()
    response = driver_client.generic("POST", "/api/driver/positions/", body, content_type="application/json")
    assert 400 <= response.status_code < 500 and response.json()["detail"], response.content
    assert counts() == before


@pytest.fixture
def stop(importer, depot_a, vehicle_a, driver_a):
    from routes.plans.services import plan_dispatch

    order = Order.objects.create(reference="S-1", date=timezone.localdate(), depot=depot_a, lat=47.14, lon=9.52)
    plan = write_plan(day=order.date, depot=depot_a, routes={(vehicle_a, driver_a): [order]})
    plan_dispatch(plan=plan, by=importer)
    return plan.routes.get().stops.get()


@pytest.mark.parametrize(
    "action, body, field, value",
    [
        ("arrive", {"lat": "NaN", "lon": 9.52}, "lat", "NaN"),
        ("arrive", {"lat": 47.1, "lon": 200}, "lon", 200),
        ("fail", {"reason": "abducted by aliens"}, "reason", "abducted by aliens"),
        ("fail", {}, "reason", ...),
        ("deliver", {"signature": "data:image/png;base64,!!!not-base64!!!"}, "signature", ...),
        ("deliver", {"note": "x" * 2001}, "note", ...),
        ("arrive", {"occurred_at": "2026-11-18T09:05:00"}, "occurred_at", "2026-11-18T09:05:00"),
        ("fail", {"reason": "not_home", "occurred_at": "yesterday"}, "occurred_at", "yesterday"),
        (
            "deliver",
            {"recipient_name": "X", "occurred_at": "2999-01-01T00:00:00Z"},
            "occurred_at",
            "2999-01-01T00:00:00Z",
        ),
    ],
    ids=[
        "arrive NaN",
        "arrive lon out of range",
        "fail unknown reason",
        "fail no reason",
        "bad signature",
        "long note",
        "action time without offset",
        "action time not a time",
        "action time in the future",
    ],
)
def test_it_refuses_a_bad_stop_action(driver_client, stop, action, body, field, value):
    before = counts()
    status_before = Order.objects.get(pk=stop.order_id).status
    response = driver_client.post(f"/api/driver/stops/{stop.pk}/{action}/", body)
    assert_error(response, field=field, value=value)
    assert counts() == before
    assert Order.objects.get(pk=stop.order_id).status == status_before


@pytest.fixture
def delivered_token(importer, depot_a):
    order = Order.objects.create(
        reference="T-1", date=timezone.localdate(), depot=depot_a, lat=47.14, lon=9.52, status=Order.Status.DELIVERED
    )
    (link,) = tracking_links_create(orders=[order])
    return token_for_nonce(link.nonce)


@pytest.mark.parametrize(
    "path, body, field, value",
    [
        ("feedback", {"rating": 6}, "rating", 6),
        ("feedback", {"rating": 0}, "rating", 0),
        ("feedback", {"rating": "NaN"}, "rating", "NaN"),
        ("feedback", {"rating": 4.5}, "rating", 4.5),
        ("feedback", {"rating": 5, "comment": "x" * 2001}, "comment", ...),
        ("messages", {"text": "   "}, "text", ...),
        ("messages", {"text": "x" * 1001}, "text", ...),
    ],
    ids=["rating 6", "rating 0", "rating NaN", "rating 4.5", "long comment", "blank message", "long message"],
)
def test_it_refuses_bad_customer_feedback_and_messages(anonymous_client, delivered_token, path, body, field, value):
    before = counts()
    response = anonymous_client.post(f"/api/track/{delivered_token}/{path}/", body)
    assert_error(response, field=field, value=value)
    assert counts() == before


def test_no_error_body_echoes_a_non_finite_number_as_invalid_json(driver_client, importer):
    """Values are echoed back; a NaN that slipped into a response would make it invalid JSON."""
    position = {"lat": "NaN", "lon": 9.52, "recorded_at": timezone.now().isoformat()}
    response = driver_client.post("/api/driver/positions/", {"positions": [position]})
    assert response.status_code == 400
    text = response.content.decode()
    assert "NaN" not in text.replace('"NaN"', "")  # only ever as the string the client sent
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in _values(response.json()))


def _values(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value)
    else:
        yield node
