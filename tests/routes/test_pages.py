"""The plans and closures pages: access by persona, what a plan page shows, only local assets."""

import html
import json
import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from dispatch.models import Order
from routes.models import Plan, RoadClosure, Route, Stop, UnassignedOrder
from tests.routes.test_plans import future_tuesday

DAY = future_tuesday()  # a day still to come: its page offers a new plan
ASSET_PATTERN = re.compile(r"<(?:script|link)\b[^>]*?\b(?:src|href)=[\"']([^\"']+)[\"']", re.IGNORECASE)
GEOMETRY = {"type": "LineString", "coordinates": [[9.52, 47.14], [9.5213, 47.1399], [9.5235, 47.145], [9.52, 47.14]]}


def _local(hour, minute=0):
    return datetime.combine(DAY, time(hour, minute), tzinfo=ZoneInfo(settings.TIME_ZONE))


def _plan(depot, vehicle, *, driver=None, status=Plan.Status.DONE, version=1, **fields) -> Plan:
    plan = Plan.objects.create(
        date=DAY, depot=depot, version=version, status=status, stage=status, progress=100 if status == "done" else 0,
        distance_m=12_345, duration_s=7_200, cost=87.5, vehicles_used=1, unassigned_count=1, **fields,
    )  # fmt: skip
    if status != Plan.Status.DONE:
        return plan
    route = Route.objects.create(
        plan=plan, vehicle=vehicle, driver=driver, distance_m=12_345, duration_s=7_200, driving_s=2_400, cost=87.5,
        start=_local(8), end=_local(10), geometry=GEOMETRY, warnings=["back late <b>bold</b>"],
    )  # fmt: skip
    for sequence, (lat, lon) in enumerate([(47.1399, 9.5213), (47.145, 9.5235)], start=1):
        order = Order.objects.create(reference=f"P{plan.id}-{sequence}", date=DAY, depot=depot, lat=lat, lon=lon)
        Stop.objects.create(
            route=route, order=order, sequence=sequence, eta=_local(8, 10 * sequence), etd=_local(8, 10 * sequence + 5)
        )
    far = Order.objects.create(reference=f"P{plan.id}-FAR", date=DAY, depot=depot, lat=47.30, lon=9.80)
    UnassignedOrder.objects.create(plan=plan, order=far, reason="210 m from the nearest road", code="road")
    return plan


@pytest.fixture
def plan_a(depot_a, vehicle_a, driver_a, dispatcher_a):
    return _plan(depot_a, vehicle_a, driver=driver_a, created_by=dispatcher_a)


@pytest.fixture
def closure(dispatcher_a):
    return RoadClosure.objects.create(
        geometry={"type": "LineString", "coordinates": [[9.521, 47.139], [9.523, 47.141]]},
        reason="Roadworks <Städtle>", starts_at=timezone.now() - timedelta(hours=1), created_by=dispatcher_a,
    )  # fmt: skip


@pytest.fixture
def stranger(db):
    return get_user_model().objects.create_user(username="stranger", password="x-irrelevant-x")


def _map_document(response) -> str:
    """The map's own HTML document, as the browser reads it from the iframe's srcdoc."""
    match = re.search(r'srcdoc="([^"]*)"', response.content.decode())
    assert match, "no map on the page"
    return html.unescape(match.group(1))


def _asset_urls(document: str) -> list[str]:
    return ASSET_PATTERN.findall(document)


# --- Access ---------------------------------------------------------------------------------------

PAGES = ["/plans/", f"/plans/?date={DAY}", "/closures/", "plan"]


def _url(page, plan):
    return f"/plans/{plan.id}/" if page == "plan" else page


@pytest.mark.parametrize("page", PAGES)
def test_it_sends_anonymous_visitors_to_the_login_page(client, plan_a, page):
    response = client.get(_url(page, plan_a))
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("persona", ["driver", "stranger"])
def test_it_refuses_drivers_and_users_without_a_role(client, plan_a, driver_a, stranger, page, persona):
    client.force_login(driver_a.user if persona == "driver" else stranger)
    assert client.get(_url(page, plan_a)).status_code == 403


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("persona", ["dispatcher_a", "manager"])
def test_it_shows_the_pages_to_dispatchers_and_managers(client, plan_a, closure, dispatcher_a, manager, page, persona):
    client.force_login(dispatcher_a if persona == "dispatcher_a" else manager)
    response = client.get(_url(page, plan_a))
    assert response.status_code == 200
    assert b'href="/plans/"' in response.content and b'href="/closures/"' in response.content


def test_it_answers_404_to_a_dispatcher_of_another_depot(client, plan_a, dispatcher_b):
    client.force_login(dispatcher_b)
    assert client.get(f"/plans/{plan_a.id}/").status_code == 404
    assert client.get("/plans/999999/").status_code == 404
    listed = client.get(f"/plans/?date={DAY}")
    assert listed.status_code == 200 and f"/plans/{plan_a.id}/" not in listed.content.decode()


# --- The plans of the day -------------------------------------------------------------------------


def test_it_lists_the_days_versions_newest_first_with_status_and_who(client, depot_a, vehicle_a, dispatcher_a):
    _plan(depot_a, vehicle_a, version=1, created_by=dispatcher_a, dispatched_at=timezone.now())
    _plan(depot_a, vehicle_a, version=2, status=Plan.Status.FAILED, error="boom", reason="closure 3 added")
    client.force_login(dispatcher_a)
    page = client.get(f"/plans/?date={DAY}").content.decode()
    assert page.index(">v2<") < page.index(">v1<")
    assert "closure 3 added" in page and "Failed" in page and "disp_a" in page
    assert 'name="depot"' not in page  # one depot: nothing to choose


def test_it_offers_a_depot_choice_to_whoever_sees_several(client, depot_a, depot_b, manager):
    client.force_login(manager)
    page = client.get("/plans/").content.decode()
    assert '<option value="A">' in page and '<option value="B">' in page
    assert 'value="compare"' in page


def test_it_falls_back_to_today_on_a_bad_date(client, dispatcher_a):
    client.force_login(dispatcher_a)
    response = client.get("/plans/?date=24.11.2026")
    assert response.status_code == 200 and response.context["day"] == timezone.localdate()


# --- One plan -------------------------------------------------------------------------------------


def test_it_puts_the_route_geometry_stops_and_unassigned_orders_on_the_map(client, plan_a, dispatcher_a):
    client.force_login(dispatcher_a)
    document = _map_document(client.get(f"/plans/{plan_a.id}/"))
    match = re.search(r"DispatchMap\.routes\([^,]+, (\[.*?\])\);\n", document)
    assert match, "no routes layer in the map"
    [route] = json.loads(match.group(1))
    assert route["geometry"] == GEOMETRY
    assert [s["sequence"] for s in route["stops"]] == [1, 2] and route["stops"][0]["eta"] == "08:10"
    assert "DispatchMap.unassigned(" in document and "210 m from the nearest road" in document
    assert "DispatchMap.depots(" in document


def test_it_credits_openstreetmap_and_loads_only_local_assets(client, plan_a, closure, dispatcher_a):
    client.force_login(dispatcher_a)
    for url in (f"/plans/{plan_a.id}/", "/closures/"):
        response = client.get(url)
        document = _map_document(response)
        assert "openstreetmap.org/copyright" in document
        assets = _asset_urls(response.content.decode()) + _asset_urls(document)
        # Local only: static files, and the JavaScript texts of the active language (served by the app).
        assert assets and all(a.startswith(settings.STATIC_URL) or a == "/jsi18n/" for a in assets), assets


def test_it_shows_routes_totals_and_reasons_and_escapes_what_users_typed(client, plan_a, dispatcher_a):
    client.force_login(dispatcher_a)
    page = client.get(f"/plans/{plan_a.id}/").content.decode()
    assert "A-Van-1" in page and "Dana Driver" in page and "12.3 km" in page and "40 min" in page
    assert "08:00–10:00" in page and "87.50" in page
    assert "210 m from the nearest road" in page
    assert "back late &lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page
    assert 'data-dispatch="/api/plans/' in page


def test_it_shows_progress_while_a_plan_is_computed(client, depot_a, vehicle_a, dispatcher_a):
    plan = _plan(depot_a, vehicle_a, status=Plan.Status.RUNNING)
    Plan.objects.filter(pk=plan.pk).update(stage="optimizing", progress=30)
    client.force_login(dispatcher_a)
    page = client.get(f"/plans/{plan.id}/").content.decode()
    assert f'data-poll="/api/plans/{plan.id}/"' in page
    assert "Optimizing" in page and 'aria-valuenow="30"' in page
    assert "srcdoc" not in page and "data-dispatch" not in page


def test_it_shows_why_a_plan_failed(client, depot_a, vehicle_a, dispatcher_a):
    plan = _plan(depot_a, vehicle_a, status=Plan.Status.FAILED, error="No road network is loaded")
    client.force_login(dispatcher_a)
    page = client.get(f"/plans/{plan.id}/").content.decode()
    assert "could not be computed" in page and "No road network is loaded" in page
    assert "data-poll" not in page and "data-dispatch" not in page


def test_it_compares_alternatives_side_by_side_and_offers_to_pick_one(client, depot_a, vehicle_a, dispatcher_a):
    import uuid

    group = uuid.uuid4()
    cheap = _plan(depot_a, vehicle_a, version=1, objective="cost", alternative_group=group, selected=False)
    few = _plan(depot_a, vehicle_a, version=2, objective="fewest_vehicles", alternative_group=group, selected=False)
    Plan.objects.filter(pk=few.pk).update(cost=60)
    client.force_login(dispatcher_a)
    response = client.get(f"/plans/{cheap.id}/")
    page = response.content.decode()
    assert "Options side by side" in page
    assert (
        f'data-select="/api/plans/{few.id}/select/"' in page and f'data-select="/api/plans/{cheap.id}/select/"' in page
    )
    cost_row = response.context["comparison"][0]
    assert cost_row["label"] == "Cost" and [c["best"] for c in cost_row["cells"]] == [False, True]
    assert "data-dispatch" not in page  # pick first, then dispatch


def test_it_says_when_a_plan_was_dispatched_and_offers_no_second_dispatch(client, depot_a, vehicle_a, dispatcher_a):
    plan = _plan(depot_a, vehicle_a, dispatched_at=timezone.now(), dispatched_by=dispatcher_a)
    client.force_login(dispatcher_a)
    page = client.get(f"/plans/{plan.id}/").content.decode()
    assert "Dispatched" in page and "data-dispatch" not in page


# --- Closures -------------------------------------------------------------------------------------


def test_it_lists_current_closures_with_a_lift_button_and_draws_them_in_red(client, closure, dispatcher_a):
    RoadClosure.objects.create(
        geometry=closure.geometry, reason="Old works", starts_at=timezone.now() - timedelta(days=2),
        lifted_at=timezone.now() - timedelta(days=1),
    )  # fmt: skip
    client.force_login(dispatcher_a)
    response = client.get("/closures/")
    page = response.content.decode()
    assert "Roadworks &lt;Städtle&gt;" in page
    assert f'data-lift="/api/closures/{closure.id}/"' in page
    assert [c.reason for c in response.context["closures"]] == ["Roadworks <Städtle>"]
    assert [c.reason for c in response.context["recent"]] == ["Old works"]
    document = _map_document(response)
    match = re.search(r"DispatchMap\.closures\([^,]+, (\[.*?\])\);\n", document)
    [drawn] = json.loads(match.group(1))
    assert drawn["reason"] == "Roadworks <Städtle>" and drawn["color"] == "#dc2626" and drawn["by"] == "disp_a"
    assert "\\u003CStädtle\\u003E" in document  # never a raw tag inside the map's script


def test_it_gives_the_closure_map_the_drawing_tools_from_static(client, dispatcher_a):
    client.force_login(dispatcher_a)
    response = client.get("/closures/")
    document = _map_document(response)
    assert "/static/vendor/leaflet-draw/leaflet.draw.js" in document
    assert "/static/vendor/leaflet-draw/leaflet.draw.css" in document
    assert "DispatchMap.closureDrawing(" in document
    assert 'name="csrf-token"' in response.content.decode()


# --- Editing a plan on its page -------------------------------------------------------------------


def _editor(response) -> dict:
    match = re.search(r'<script id="plan-editor" type="application/json">(.*?)</script>', response.content.decode())
    assert match, "no editor data on the page"
    return json.loads(match.group(1))


def test_it_gives_the_editor_the_plan_as_the_api_shows_it_and_every_vehicle(
    client, plan_a, dispatcher_a, depot_a, vehicle_a
):
    from dispatch.models import Vehicle

    spare = Vehicle.objects.create(name="A-Spare", depot=depot_a, kind="cargo_bike", capacity_kg=100)
    Order.objects.filter(reference=f"P{plan_a.id}-1").update(customer_name="Anna <b>Beck</b>", address="Städtle 1")
    client.force_login(dispatcher_a)
    response = client.get(f"/plans/{plan_a.id}/")
    page = response.content.decode()
    editor = _editor(response)
    api_plan = client.get(f"/api/plans/{plan_a.id}/").json()
    for route in api_plan["routes"]:
        route.pop("geometry")
    assert editor["plan"] == api_plan
    assert editor["urls"] == {
        "edit": f"/api/plans/{plan_a.id}/edit/",
        "reoptimize": f"/api/plans/{plan_a.id}/reoptimize/",
        "detail": "/plans/0/",
    }
    assert [v["name"] for v in editor["vehicles"]] == ["A-Spare", "A-Van-1"]
    assert {v["id"]: v["color"] for v in editor["vehicles"]} == {vehicle_a.id: "#2563eb", spare.id: "#16a34a"}
    first = Order.objects.get(reference=f"P{plan_a.id}-1")
    assert editor["orders"][str(first.id)]["customer"] == "Anna <b>Beck</b>"
    assert "Anna <b>" not in page  # json_script escapes what customers typed
    assert editor["dispatched"] is False
    assert f'data-reoptimize="/api/plans/{plan_a.id}/reoptimize/"' in page


def test_it_offers_move_to_route_in_the_map_popups(client, plan_a, dispatcher_a, vehicle_a):
    client.force_login(dispatcher_a)
    document = _map_document(client.get(f"/plans/{plan_a.id}/"))
    match = re.search(r"DispatchMap\.planEditing\([^,]+, (\{.*?\})\);\n", document)
    assert match, "no editing layer in the map"
    assert json.loads(match.group(1)) == {"vehicles": [{"id": vehicle_a.id, "name": "A-Van-1", "color": "#2563eb"}]}
    assert document.index("DispatchMap.planEditing(") < document.index("DispatchMap.routes(")
    [route] = json.loads(re.search(r"DispatchMap\.routes\([^,]+, (\[.*?\])\);\n", document).group(1))
    assert route["vehicle_id"] == vehicle_a.id
    assert [s["order"] for s in route["stops"]] == list(
        Stop.objects.filter(route__plan=plan_a).order_by("sequence").values_list("order_id", flat=True)
    )


def test_it_offers_no_editing_while_a_plan_is_computed(client, depot_a, vehicle_a, dispatcher_a):
    plan = _plan(depot_a, vehicle_a, status=Plan.Status.RUNNING)
    client.force_login(dispatcher_a)
    page = client.get(f"/plans/{plan.id}/").content.decode()
    assert 'id="plan-editor"' not in page
    assert "data-reoptimize" not in page
