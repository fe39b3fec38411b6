"""Order import from CSV: the service, the API endpoint and `manage.py import_orders`.

A good file lands whole; a bad one is reported row by row (row, field, value, message) and writes
nothing at all: no order, customer, history row or tracking link.
"""

import csv
import io
import string
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from customers.models import TrackingLink
from dispatch.errors import OrderImportError
from dispatch.models import Customer, Order, OrderStatusChange, Zone
from dispatch.orders.importing import orders_import_csv

VADUZ = ZoneInfo("Europe/Vaduz")
UTC = ZoneInfo("UTC")
COLUMNS = [
    "reference", "date", "depot", "customer_name", "phone", "email", "latitude", "longitude", "window_start",
    "window_end", "service_minutes", "weight_kg", "volume_l", "items", "skills", "priority", "notes",
]  # fmt: skip


def good_row(reference: str = "R-1", /, **overrides) -> dict:
    row = {
        "reference": reference, "date": "2026-05-04", "depot": "A", "customer_name": "Anna Beispiel",
        "phone": "+423 123 45 67", "email": "anna@example.com", "latitude": "47.141", "longitude": "9.521",
        "window_start": "09:00", "window_end": "12:00", "service_minutes": "4", "weight_kg": "2.5",
        "volume_l": "10", "items": "2", "skills": "fridge", "priority": "10", "notes": "ring twice",
    }  # fmt: skip
    row.update(overrides)
    return row


def to_csv(rows: list[dict], *, delimiter: str = ",", columns: list[str] | None = None) -> bytes:
    columns = columns or list(rows[0])
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(column, "") for column in columns])
    return buffer.getvalue().encode()


def counts() -> tuple[int, int, int, int]:
    return (
        Order.objects.count(),
        Customer.objects.count(),
        OrderStatusChange.objects.count(),
        TrackingLink.objects.count(),
    )


@pytest.fixture(autouse=True)
def _local_time_zone(settings):
    # The DST assertions below are about this zone, whatever the environment sets.
    settings.TIME_ZONE = "Europe/Vaduz"


@pytest.fixture
def importer(dispatcher_a, depot_b):
    """Dispatcher A, while depot B (not theirs) exists too."""
    return dispatcher_a


# --- Good files ------------------------------------------------------------------------------


def test_it_imports_a_comma_separated_file(importer, depot_a):
    data = to_csv([good_row("R-1"), good_row("R-2", email="bob@example.com", service_minutes="", skills="")])

    result = orders_import_csv(data=data, user=importer)

    assert (len(result.created), len(result.updated)) == (2, 0)
    assert sorted(result.order_ids) == sorted(Order.objects.values_list("id", flat=True))
    order = Order.objects.get(reference="R-1")
    assert (order.depot, order.date, order.status) == (depot_a, date(2026, 5, 4), Order.Status.NEW)
    assert (order.lat, order.lon, order.geocoded) == (47.141, 9.521, False)
    assert (order.weight_kg, order.volume_l, order.items) == (Decimal("2.5"), Decimal("10"), 2)
    assert (order.service_minutes, order.priority, order.skills) == (4, 10, ["fridge"])
    assert (order.customer_name, order.phone, order.email, order.notes) == (
        "Anna Beispiel", "+423 123 45 67", "anna@example.com", "ring twice",
    )  # fmt: skip
    assert order.customer.email == "anna@example.com"
    other = Order.objects.get(reference="R-2")
    assert (other.service_minutes, other.skills) == (None, [])  # blank: the learned time at the door applies
    history = OrderStatusChange.objects.get(order=order)
    assert (history.from_status, history.to_status, history.reason, history.changed_by) == (
        "", "new", "imported", importer,
    )  # fmt: skip
    assert TrackingLink.objects.filter(order=order).count() == 1


def test_it_imports_semicolons_a_bom_any_header_case_and_aliases(importer, depot_a):
    text = (
        "\ufeffREF;Date;DEPOT;Name;Lat;LNG;Window_Start;window_end;Weight_KG;Skills\r\n"
        "S-1;2026-05-04;a;Carla;47,15;9,53;08:30;10:00;1,25;fridge;two_person\r\n"
    )
    # The skills cell holds a semicolon, so it must be quoted in a semicolon file.
    text = text.replace("fridge;two_person", '"fridge;two_person"')

    result = orders_import_csv(data=text.encode("utf-8"), user=importer)

    assert len(result.created) == 1
    order = Order.objects.get(reference="S-1")
    assert (order.depot, order.customer_name, order.lat, order.lon) == (depot_a, "Carla", 47.15, 9.53)
    assert (order.weight_kg, order.skills) == (Decimal("1.25"), ["fridge", "two_person"])
    assert order.window_start == datetime(2026, 5, 4, 8, 30, tzinfo=VADUZ)


def test_it_takes_the_only_visible_depot_when_the_column_is_missing(importer, depot_a):
    row = good_row()
    del row["depot"]
    orders_import_csv(data=to_csv([row]), user=importer)
    assert Order.objects.get().depot == depot_a


def test_it_updates_a_reimported_reference_instead_of_duplicating_it(importer):
    orders_import_csv(data=to_csv([good_row("R-1"), good_row("R-2")]), user=importer)
    order = Order.objects.get(reference="R-1")
    before = counts()

    changed = good_row("R-1", latitude="47.2", weight_kg="7", window_end="13:30", notes="new note", priority="90")
    result = orders_import_csv(data=to_csv([changed, good_row("R-3")]), user=importer)

    assert (len(result.created), len(result.updated)) == (1, 1)
    assert result.updated[0].id == order.id
    assert Order.objects.filter(reference="R-1").count() == 1
    assert Order.objects.count() == 3
    order.refresh_from_db()
    assert (order.lat, order.weight_kg, order.notes, order.priority) == (47.2, Decimal("7"), "new note", 90)
    assert order.window_end == datetime(2026, 5, 4, 13, 30, tzinfo=VADUZ)
    # Only the new order got a history row and a tracking link.
    assert counts()[2:] == (before[2] + 1, before[3] + 1)
    assert TrackingLink.objects.filter(order=order).count() == 1


def test_it_updates_a_planned_order_but_refuses_a_dispatched_one(importer):
    orders_import_csv(data=to_csv([good_row("R-1"), good_row("R-2")]), user=importer)
    Order.objects.filter(reference="R-1").update(status=Order.Status.PLANNED)
    Order.objects.filter(reference="R-2").update(status=Order.Status.DISPATCHED)

    orders_import_csv(data=to_csv([good_row("R-1", notes="changed")]), user=importer)
    assert Order.objects.get(reference="R-1").notes == "changed"

    with pytest.raises(OrderImportError) as caught:
        orders_import_csv(data=to_csv([good_row("R-1", notes="again"), good_row("R-2", notes="x")]), user=importer)
    assert [(e["row"], e["field"], e["value"]) for e in caught.value.errors] == [(3, "reference", "R-2")]
    assert "dispatched" in caught.value.errors[0]["message"]
    assert Order.objects.get(reference="R-1").notes == "changed"
    assert Order.objects.get(reference="R-2").notes == "ring twice"


def test_it_deduplicates_customers_by_email(importer):
    rows = [
        good_row("R-1", email="Anna@Example.com"),
        good_row("R-2", email="ANNA@example.com"),
        good_row("R-3", email="", phone="+423 999 00 11"),
        good_row("R-4", email="", phone="+423 999-00-11"),
    ]
    orders_import_csv(data=to_csv(rows), user=importer)
    assert Customer.objects.count() == 2

    # A later file, with the address spelled in other case, still finds the same customer.
    orders_import_csv(
        data=to_csv([good_row("R-5", email="anna@example.com"), good_row("R-6", email="", phone="+4239990011")]),
        user=importer,
    )
    assert Customer.objects.count() == 2
    anna = Customer.objects.get(email__iexact="anna@example.com")
    assert sorted(anna.orders.values_list("reference", flat=True)) == ["R-1", "R-2", "R-5"]


def test_it_fills_in_a_known_customers_missing_name(importer):
    orders_import_csv(data=to_csv([good_row("R-1", customer_name="")]), user=importer)
    orders_import_csv(data=to_csv([good_row("R-2", customer_name="Anna Beispiel")]), user=importer)
    assert Customer.objects.get().name == "Anna Beispiel"


def test_it_assigns_the_zone_containing_the_order(importer, depot_a):
    square = [[9.50, 47.13], [9.55, 47.13], [9.55, 47.16], [9.50, 47.16], [9.50, 47.13]]
    zone = Zone.objects.create(
        code="vaduz", name="Vaduz", depot=depot_a, polygon={"type": "Polygon", "coordinates": [square]}
    )
    rows = [good_row("IN", latitude="47.14", longitude="9.52"), good_row("OUT", latitude="47.30", longitude="9.60")]
    orders_import_csv(data=to_csv(rows), user=importer)
    assert Order.objects.get(reference="IN").zone == zone
    assert Order.objects.get(reference="OUT").zone is None


def test_it_stores_windows_as_local_aware_times_across_a_dst_change(importer):
    rows = [
        good_row("CET", date="2026-03-28", window_start="09:00", window_end="24:00"),
        good_row("CEST", date="2026-03-29", window_start="09:00", window_end="24:00"),
        good_row("OPEN", date="2026-03-29", window_start="", window_end="17:00"),
    ]
    orders_import_csv(data=to_csv(rows), user=importer)

    cet, cest, open_start = (Order.objects.get(reference=r) for r in ("CET", "CEST", "OPEN"))
    # 09:00 in Vaduz is 08:00 UTC in winter time and 07:00 UTC from 29 March 2026.
    assert cet.window_start == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)
    assert cest.window_start == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    # 24:00 is the first instant of the next local day.
    assert cet.window_end == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert cest.window_end == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert cest.window_end.astimezone(VADUZ) == datetime(2026, 3, 30, 0, 0, tzinfo=VADUZ)
    assert (open_start.window_start, open_start.window_end) == (None, datetime(2026, 3, 29, 15, 0, tzinfo=UTC))


# --- Bad files: every error names row, field, value; nothing is written -----------------------


def _assert_refused(data: bytes, user, expected: list[tuple]) -> list[dict]:
    """expected: (row, field, value, words in the message) for each error, in order."""
    before = counts()
    with pytest.raises(OrderImportError) as caught:
        orders_import_csv(data=data, user=user)
    errors = caught.value.errors
    assert counts() == before
    for error in errors:
        assert set(error) >= {"row", "field", "value", "message"}
        assert error["message"]
    assert [(e["row"], e["field"], e["value"]) for e in errors] == [e[:3] for e in expected]
    for error, (*_, words) in zip(errors, expected):
        assert words.lower() in error["message"].lower(), error
    return errors


BAD_ROWS = {
    "nonexistent date": ({"date": "2026-02-30"}, "date", "2026-02-30", "date"),
    "date in another format": ({"date": "04.05.2026"}, "date", "04.05.2026", "YYYY-MM-DD"),
    "latitude out of range": ({"latitude": "91"}, "latitude", "91", "out of range"),
    "longitude out of range": ({"longitude": "-180.5"}, "longitude", "-180.5", "out of range"),
    "latitude NaN": ({"latitude": "NaN"}, "latitude", "NaN", "not a number"),
    "longitude inf": ({"longitude": "inf"}, "longitude", "inf", "not a number"),
    "latitude overflowing to inf": ({"latitude": "1e999"}, "latitude", "1e999", "not a number"),
    "window end before start": ({"window_start": "14:00", "window_end": "10:00"}, "window_end", "10:00", "before"),
    "window start at 24:00": ({"window_start": "24:00", "window_end": ""}, "window_start", "24:00", "24:00"),
    "window not a time": ({"window_start": "25:00"}, "window_start", "25:00", "HH:MM"),
    "negative weight": ({"weight_kg": "-1"}, "weight_kg", "-1", "negative"),
    "negative volume": ({"volume_l": "-0.5"}, "volume_l", "-0.5", "negative"),
    "negative items": ({"items": "-2"}, "items", "-2", "negative"),
    "weight NaN": ({"weight_kg": "NaN"}, "weight_kg", "NaN", "number"),
    "priority above 100": ({"priority": "101"}, "priority", "101", "at most 100"),
    "unknown depot": ({"depot": "ZZ"}, "depot", "ZZ", "unknown depot"),
    "another dispatcher's depot": ({"depot": "B"}, "depot", "B", "unknown depot"),
    "unknown skill": ({"skills": "fridge;teleport"}, "skills", "teleport", "unknown skill"),
    "bad e-mail": ({"email": "anna-at-example"}, "email", "anna-at-example", "e-mail"),
    "reference too long": ({"reference": "R" * 65}, "reference", "R" * 65, "longer than 64"),
    "missing reference": ({"reference": ""}, "reference", "", "required"),
    "missing coordinates and address": ({"latitude": "", "longitude": ""}, "address", "", "required"),
    "half a coordinate pair": ({"longitude": ""}, "longitude", "", "together"),
}


@pytest.mark.parametrize("case", list(BAD_ROWS), ids=list(BAD_ROWS))
def test_it_reports_a_bad_row_and_writes_nothing(importer, case):
    overrides, field, value, words = BAD_ROWS[case]
    # An existing order the bad file would update, to prove updates are held back too.
    orders_import_csv(data=to_csv([good_row("R-0")]), user=importer)
    rows = [good_row("R-0", notes="updated"), good_row("R-1"), good_row("R-2", **overrides)]

    _assert_refused(to_csv(rows, columns=COLUMNS), importer, [(4, field, value, words)])

    assert Order.objects.get(reference="R-0").notes == "ring twice"


def test_it_reports_every_bad_row_not_just_the_first(importer):
    rows = [good_row("R-1", date="2026-02-30"), good_row("R-2"), good_row("R-3", priority="-1", weight_kg="-3")]
    _assert_refused(
        to_csv(rows),
        importer,
        [(2, "date", "2026-02-30", "date"), (4, "priority", "-1", "negative"), (4, "weight_kg", "-3", "negative")],
    )


def test_it_refuses_a_file_that_is_not_utf8(importer):
    data = "reference,date,latitude,longitude\nR-1,2026-05-04,47.1,9.5\nR-2,2026-05-04,47.1,9.5 Zürich\n"
    _assert_refused(data.encode("latin-1"), importer, [(3, "file", None, "not UTF-8")])


def test_it_refuses_a_binary_file(importer):
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    _assert_refused(data, importer, [(0, "file", None, "binary")])


def test_it_refuses_a_file_without_the_required_columns(importer):
    data = b"ref,latitude,longitude\nR-1,47.1,9.5\n"  # "ref" is an alias of reference; date is missing
    _assert_refused(data, importer, [(1, "date", None, "missing")])
    _assert_refused(
        b"customer_name,notes\nAnna,x\n", importer, [(1, "reference", None, "missing"), (1, "date", None, "missing")]
    )


def test_it_refuses_a_reference_twice_in_one_file(importer):
    rows = [good_row("R-1"), good_row("R-2"), good_row("R-1", notes="again")]
    errors = _assert_refused(to_csv(rows), importer, [(4, "reference", "R-1", "duplicate")])
    assert "row 2" in errors[0]["message"]


def test_it_refuses_a_row_with_more_cells_than_columns(importer):
    data = to_csv([good_row("R-1")]) + (",".join([*good_row("R-2").values(), "surplus", "cells"]) + "\n").encode()
    errors = _assert_refused(data, importer, [(3, "", 19, "cells")])
    assert "17 columns" in errors[0]["message"]


def test_it_explains_that_address_only_rows_need_the_geocoder(importer):
    row = good_row("R-1", latitude="", longitude="", address="Städtle 1, Vaduz")
    errors = _assert_refused(to_csv([row]), importer, [(2, "address", "Städtle 1, Vaduz", "geocoder")])
    assert "latitude and longitude" in errors[0]["message"]


def test_it_refuses_a_reference_that_belongs_to_another_depot(dispatcher_a, dispatcher_b, depot_a):
    # References are unique company-wide; dispatcher B must not take over depot A's order with one.
    orders_import_csv(data=to_csv([good_row("R-1")]), user=dispatcher_a)
    errors = _assert_refused(
        to_csv([good_row("R-1", depot="B", notes="hijacked")]), dispatcher_b, [(2, "reference", "R-1", "")]
    )
    assert "another depot" in errors[0]["message"]
    order = Order.objects.get(reference="R-1")
    assert (order.depot, order.notes) == (depot_a, "ring twice")


# --- Property: one bad field anywhere is found, and nothing is written -------------------------

SAFE_TEXT = st.text(alphabet=string.ascii_letters + "äöüÄÖÜß .,;-'\"", max_size=30)
BAD_VALUES = [
    ("reference", ""), ("reference", "X" * 65), ("date", "2026-02-30"), ("date", "2026-13-01"), ("date", "tomorrow"),
    ("date", ""), ("depot", "ZZ"), ("depot", "B"), ("latitude", "90.5"), ("latitude", "nan"), ("latitude", "-inf"),
    ("latitude", "north"), ("longitude", "180.01"), ("longitude", "Infinity"), ("window_start", "25:00"),
    ("window_start", "9 Uhr"), ("window_start", "24:00"), ("window_end", "07:59"), ("window_end", "8:61"),
    ("service_minutes", "-1"), ("service_minutes", "481"), ("service_minutes", "1.5"), ("weight_kg", "-0.01"),
    ("weight_kg", "NaN"), ("volume_l", "-1"), ("items", "-1"), ("items", "two"), ("priority", "101"),
    ("priority", "-1"), ("skills", "teleport"), ("skills", "fridge;teleport"), ("email", "not-an-email"),
    ("phone", "call me"), ("customer_name", "N" * 161), ("notes", "n" * 4001),
]  # fmt: skip


@st.composite
def valid_rows(draw, count: int):
    rows = []
    for index in range(count):
        start_hour = draw(st.integers(8, 12))
        end = draw(st.sampled_from(["", "24:00", *[f"{h:02d}:{m:02d}" for h in (13, 17, 23) for m in (0, 59)]]))
        rows.append(
            {
                "reference": f"HY-{index}",
                "date": draw(st.dates(date(2024, 1, 1), date(2030, 12, 31))).isoformat(),
                "depot": draw(st.sampled_from(["A", "a", ""])),
                "customer_name": draw(SAFE_TEXT),
                "phone": draw(st.sampled_from(["", "+423 123 45 67", "(075) 232-12-12"])),
                "email": draw(st.sampled_from(["", "anna@example.com", "Bob.B@Example.org"])),
                "latitude": f"{draw(st.floats(-90, 90)):.6f}",
                "longitude": f"{draw(st.floats(-180, 180)):.6f}",
                "window_start": draw(st.sampled_from(["", f"{start_hour:02d}:00", f"{start_hour}:30"])),
                "window_end": end,
                "service_minutes": draw(st.sampled_from(["", "0", "5", "480"])),
                "weight_kg": str(draw(st.decimals(0, 1000, places=2))),
                "volume_l": str(draw(st.decimals(0, 1000, places=1))),
                "items": str(draw(st.integers(0, 500))),
                "skills": ";".join(draw(st.lists(st.sampled_from(["fridge", "two_person", "fragile"]), max_size=3))),
                "priority": str(draw(st.integers(0, 100))),
                "notes": draw(SAFE_TEXT),
            }
        )
    return rows


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.integers(1, 6).flatmap(valid_rows),
    which=st.integers(0, 100),
    bad=st.sampled_from(BAD_VALUES),
    delimiter=st.sampled_from([",", ";"]),
)
def test_it_names_the_one_bad_field_of_any_file_and_writes_nothing(importer, rows, which, bad, delimiter):
    field, value = bad
    index = which % len(rows)
    rows[index][field] = value
    if field == "window_end":
        rows[index]["window_start"] = "08:00"
    before = counts()

    with pytest.raises(OrderImportError) as caught:
        orders_import_csv(data=to_csv(rows, delimiter=delimiter, columns=COLUMNS), user=importer)

    assert counts() == before
    errors = caught.value.errors
    assert errors
    assert {(e["row"], e["field"]) for e in errors} == {(index + 2, field)}, errors


class _RollBack(Exception):
    pass


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(1, 6).flatmap(valid_rows), delimiter=st.sampled_from([",", ";"]))
def test_it_imports_any_valid_file_whole(importer, rows, delimiter):
    # The generator above must make good rows, or the property before it proves nothing.
    before = counts()
    with pytest.raises(_RollBack), transaction.atomic():
        result = orders_import_csv(data=to_csv(rows, delimiter=delimiter, columns=COLUMNS), user=importer)
        assert len(result.created) == len(rows)
        assert Order.objects.count() == before[0] + len(rows)
        assert TrackingLink.objects.count() == before[3] + len(rows)
        raise _RollBack
    assert counts() == before


# --- The same import through the API and the command line ------------------------------------


def _upload(client, data: bytes, name: str = "orders.csv"):
    return client.post("/api/orders/import/", {"file": SimpleUploadedFile(name, data, "text/csv")}, format="multipart")


def test_it_imports_through_the_api(dispatcher_a_client, importer):
    response = _upload(dispatcher_a_client, to_csv([good_row("R-1"), good_row("R-2")]))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["created"], body["updated"]) == (2, 0)
    assert sorted(body["orders"]) == sorted(Order.objects.values_list("id", flat=True))

    response = _upload(dispatcher_a_client, to_csv([good_row("R-1", notes="changed")]))
    assert response.status_code == 201
    assert (response.json()["created"], response.json()["updated"]) == (0, 1)
    assert response.json()["orders"] == [Order.objects.get(reference="R-1").id]
    assert Order.objects.count() == 2


def test_it_answers_400_with_every_error_through_the_api(dispatcher_a_client, importer):
    before = counts()
    rows = [good_row("R-1", date="2026-02-30"), good_row("R-2", latitude="nan")]
    response = _upload(dispatcher_a_client, to_csv(rows))
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["row"], e["field"], e["value"]) for e in errors] == [(2, "date", "2026-02-30"), (3, "latitude", "nan")]
    assert all(e["message"] for e in errors)
    assert counts() == before


def test_it_answers_400_without_a_file(dispatcher_a_client, importer):
    response = dispatcher_a_client.post("/api/orders/import/", {}, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "file"


def test_it_gives_an_imported_order_a_working_tracking_page(dispatcher_a_client, client, importer):
    _upload(dispatcher_a_client, to_csv([good_row("R-1")]))
    order = Order.objects.get(reference="R-1")
    tracking_url = dispatcher_a_client.get(f"/api/orders/{order.id}/").json()["tracking_url"]
    assert tracking_url.startswith("http://testserver/t/")

    page = client.get(tracking_url.removeprefix("http://testserver"))
    assert page.status_code == 200
    assert "R-1" in page.content.decode()
    assert client.get("/t/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/").status_code == 404
    assert client.get(tracking_url.removeprefix("http://testserver")[:-2] + "x/").status_code == 404


def test_it_imports_from_the_command_line(tmp_path, importer, depot_a):
    path = tmp_path / "orders.csv"
    path.write_bytes(to_csv([good_row("R-1"), good_row("R-2", depot="B")]))
    out = io.StringIO()

    # As dispatcher A, depot B is unknown: the same rule as in the API.
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_orders", str(path), "--as-user", "disp_a", stdout=out, stderr=err)
    assert "row 3: depot='B'" in err.getvalue()
    assert Order.objects.count() == 0

    # The operator (no user) may import into every depot.
    call_command("import_orders", str(path), stdout=out)
    assert "2 created, 0 updated" in out.getvalue()
    assert sorted(Order.objects.values_list("reference", "depot__code")) == [("R-1", "A"), ("R-2", "B")]

    path.write_bytes(to_csv([good_row("R-1", notes="changed")]))
    call_command("import_orders", str(path), stdout=out)
    assert "0 created, 1 updated" in out.getvalue()
    assert Order.objects.count() == 2
    assert Order.objects.get(reference="R-1").notes == "changed"


def test_it_reports_bad_rows_on_the_command_line_and_writes_nothing(tmp_path, importer):
    path = tmp_path / "orders.csv"
    path.write_bytes(to_csv([good_row("R-1"), good_row("R-2", weight_kg="-1", date="2026-02-30")]))
    err = io.StringIO()
    before = counts()
    with pytest.raises(CommandError, match="2 error"):
        call_command("import_orders", str(path), stdout=io.StringIO(), stderr=err)
    assert "row 3: date='2026-02-30'" in err.getvalue()
    assert "row 3: weight_kg='-1': must not be negative" in err.getvalue()
    assert counts() == before
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_orders", str(tmp_path / "missing.csv"))
