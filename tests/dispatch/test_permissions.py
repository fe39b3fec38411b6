"""Who may do what: every endpoint found in the URL resolver × every persona × every method.

The API endpoints and the pages come from config.urls itself, and the sockets from config.routing, so
one added without a row here fails until someone decides who may use it. Another depot's object
answers 404, never 403; another driver's stop 404; a customer gets in only with a live token.
"""

import re
from datetime import date, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from customers.tracking_links import tracking_link_ensure
from customers.tracking_tokens import token_for_nonce
from dispatch import alerts
from dispatch.fleet.services import driver_create
from dispatch.models import Order, Vehicle
from dispatch.partners.services import order_hand_off, partner_create, partner_user_create
from routes.models import Plan, Stop
from routes.plans.services import plan_dispatch
from tests.conftest import PASSWORD, _client_for
from tests.driver.conftest import write_plan
from tests.live.conftest import isolated_live_state  # noqa: F401 - own channel-layer and cache prefixes (autouse)
from tests.routes.test_slots import next_weekday
from tests.url_routes import all_routes, view_of

PERSONAS = ("anonymous", "driver", "dispatcher_a", "dispatcher_b", "manager", "partner")
OFFICE_PERSONAS = ("dispatcher_a", "dispatcher_b", "manager")
IGNORED_METHODS = {"OPTIONS", "HEAD", "TRACE"}


def api_endpoints() -> dict[str, type]:
    """Every route under api/ in config.urls, as its route string -> view class."""
    return {route: view_of(pattern) for route, pattern in all_routes().items() if route.startswith("api/")}


def view_methods(view_class) -> set[str]:
    if not isinstance(view_class, type):
        return {"GET", "POST", "PUT", "PATCH", "DELETE"}  # a function view: every method needs a decision
    return {m.upper() for m in view_class.http_method_names if hasattr(view_class, m)} - IGNORED_METHODS


def openapi_path(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


# --- The expectation table ---------------------------------------------------------------------
# route -> method -> (path(world), body(world, persona) or None, {persona: status})


def _statuses(anonymous, driver, dispatcher_a, dispatcher_b, manager, partner=None) -> dict[str, int]:
    # A courier partner's login (issue 20) is refused wherever a driver is, and sees what is public;
    # the rows of the driver's own app and of the partner API say otherwise.
    partner = driver if partner is None else partner
    return dict(zip(PERSONAS, (anonymous, driver, dispatcher_a, dispatcher_b, manager, partner)))


PUBLIC_200 = _statuses(200, 200, 200, 200, 200)
OFFICE_READ = _statuses(401, 403, 200, 200, 200)
DEPOT_A_OBJECT = _statuses(401, 403, 200, 404, 200)
# Writes naming depot A's things: dispatcher B is told the depot/vehicle is unknown (400), as if absent.
DEPOT_A_WRITE = _statuses(401, 403, 201, 400, 201)
OFFICE_INVALID = _statuses(401, 403, 400, 400, 400)
# An action on depot A's object whose outcome depends on its state: allowed through, never a server error.
DEPOT_A_ACTION = _statuses(401, 403, (200, 400, 409), 404, (200, 400, 409))
UNKNOWN_TOKEN = "A" * 27
NOT_FOUND_FOR_ALL = _statuses(404, 404, 404, 404, 404)


def _import_file(world, persona):
    row = f"reference,date,depot,latitude,longitude\nIMP-{persona},2026-05-04,A,47.14,9.52\n"
    return {"file": SimpleUploadedFile("orders.csv", row.encode(), "text/csv")}


EXPECTED = {
    "api/auth/token/": {
        # Public by design; an empty body is a validation error for everybody.
        "POST": (lambda w: "/api/auth/token/", lambda w, p: {}, _statuses(400, 400, 400, 400, 400)),
    },
    "api/schema/": {"GET": (lambda w: "/api/schema/?format=json", None, PUBLIC_200)},
    "api/docs/": {"GET": (lambda w: "/api/docs/", None, PUBLIC_200)},
    "api/redoc/": {"GET": (lambda w: "/api/redoc/", None, PUBLIC_200)},
    "api/depots/": {
        "GET": (lambda w: "/api/depots/", None, OFFICE_READ),
        "POST": (
            lambda w: "/api/depots/",
            lambda w, p: {"code": f"new-{p}", "name": "New", "lat": 47.1, "lon": 9.5},
            _statuses(401, 403, 403, 403, 201),
        ),
    },
    "api/depots/<str:depot_id>/": {"GET": (lambda w: f"/api/depots/{w['depot_a'].code}/", None, DEPOT_A_OBJECT)},
    "api/vehicles/": {
        "GET": (lambda w: "/api/vehicles/", None, OFFICE_READ),
        "POST": (
            lambda w: "/api/vehicles/",
            lambda w, p: {"name": f"V-{p}", "depot": "A", "kind": "van", "capacity_kg": "500"},
            DEPOT_A_WRITE,
        ),
    },
    "api/vehicles/<int:vehicle_id>/": {"GET": (lambda w: f"/api/vehicles/{w['vehicle_a'].id}/", None, DEPOT_A_OBJECT)},
    "api/drivers/": {
        "GET": (lambda w: "/api/drivers/", None, OFFICE_READ),
        "POST": (
            lambda w: "/api/drivers/",
            lambda w, p: {
                "username": f"drv_{p}",
                "password": "long-enough-1",
                "name": "Nina",
                "vehicle": w["vehicle_a"].id,
            },
            DEPOT_A_WRITE,
        ),
    },
    "api/orders/": {"GET": (lambda w: "/api/orders/", None, OFFICE_READ)},
    "api/orders/import/": {"POST": (lambda w: "/api/orders/import/", _import_file, DEPOT_A_WRITE)},
    "api/orders/<int:order_id>/": {"GET": (lambda w: f"/api/orders/{w['order_a'].id}/", None, DEPOT_A_OBJECT)},
    # Routing and closures are company-wide (roads belong to no depot). No road network is loaded here,
    # so bodies are invalid on purpose: the permission check answers first, then validation (400).
    "api/routing/matrix/": {"POST": (lambda w: "/api/routing/matrix/", lambda w, p: {}, OFFICE_INVALID)},
    "api/routing/route/": {"POST": (lambda w: "/api/routing/route/", lambda w, p: {}, OFFICE_INVALID)},
    "api/routing/geocode/": {"GET": (lambda w: "/api/routing/geocode/", None, OFFICE_INVALID)},
    "api/closures/": {
        "GET": (lambda w: "/api/closures/", None, OFFICE_READ),
        "POST": (lambda w: "/api/closures/", lambda w, p: {"reason": "roadworks"}, OFFICE_INVALID),
    },
    "api/plans/": {
        "GET": (lambda w: "/api/plans/", None, OFFICE_READ),
        # Invalid on purpose: a valid request would start an optimization.
        "POST": (lambda w: "/api/plans/", lambda w, p: {"objective": "cheapest"}, OFFICE_INVALID),
    },
    "api/plans/<int:plan_id>/": {"GET": (lambda w: f"/api/plans/{w['plan_a'].id}/", None, DEPOT_A_OBJECT)},
    "api/plans/<int:plan_id>/dispatch/": {
        "POST": (lambda w: f"/api/plans/{w['plan_a'].id}/dispatch/", lambda w, p: {}, DEPOT_A_ACTION)
    },
    "api/plans/<int:plan_id>/select/": {
        "POST": (lambda w: f"/api/plans/{w['plan_a'].id}/select/", lambda w, p: {}, DEPOT_A_ACTION)
    },
    "api/plans/<int:plan_id>/edit/": {
        "POST": (
            lambda w: f"/api/plans/{w['plan_a'].id}/edit/",
            lambda w, p: {"operations": [{"op": "lock", "vehicle": w["vehicle_a"].id}]},
            DEPOT_A_ACTION,
        )
    },
    "api/plans/<int:plan_id>/reoptimize/": {
        "POST": (
            lambda w: f"/api/plans/{w['plan_a'].id}/reoptimize/",
            lambda w, p: {},
            _statuses(401, 403, 202, 404, 202),
        )
    },
    "api/plans/<int:plan_id>/replan/": {
        # plan_a was never dispatched: a re-plan is refused with 409, after the permission checks.
        "POST": (lambda w: f"/api/plans/{w['plan_a'].id}/replan/", lambda w, p: {}, _statuses(401, 403, 409, 404, 409))
    },
    # plan_a is no proposal: deciding on it is refused with 409, after the permission checks.
    "api/plans/<int:plan_id>/approve/": {
        "POST": (lambda w: f"/api/plans/{w['plan_a'].id}/approve/", lambda w, p: {}, _statuses(401, 403, 409, 404, 409))
    },
    "api/plans/<int:plan_id>/reject/": {
        "POST": (lambda w: f"/api/plans/{w['plan_a'].id}/reject/", lambda w, p: {}, _statuses(401, 403, 409, 404, 409))
    },
    # The driver's own app: drivers only; a stop that is not on the driver's route answers 404.
    "api/driver/route/": {
        "GET": (lambda w: "/api/driver/route/", None, _statuses(401, 200, 403, 403, 403, partner=403))
    },
    "api/driver/positions/": {
        "POST": (
            lambda w: "/api/driver/positions/",
            lambda w, p: {"positions": [{"lat": 47.14, "lon": 9.52, "recorded_at": timezone.now().isoformat()}]},
            _statuses(401, 202, 403, 403, 403, partner=403),
        )
    },
    **{
        f"api/driver/stops/<int:stop_id>/{action}/": {
            "POST": (
                # Another driver's stop of the same depot: as if it did not exist.
                lambda w, a=action: f"/api/driver/stops/{w['other_stop'].id}/{a}/",
                lambda w, p: {},
                _statuses(401, 404, 403, 403, 403, partner=403),
            )
        }
        for action in ("arrive", "deliver", "fail")
    },
    "api/alerts/": {"GET": (lambda w: "/api/alerts/?open=1", None, OFFICE_READ)},
    "api/alerts/<int:alert_id>/resolve/": {
        # alert_open gives every persona a fresh open alert of depot A to try
        "POST": (
            lambda w: f"/api/alerts/{alerts.alert_open(depot_id=w['depot_a'].pk, kind='other', dedup_key='perm:a', message='x').pk}/resolve/",
            None,
            DEPOT_A_OBJECT,
        )
    },
    # Many at once, checked alert by alert: depot B's dispatcher gets 200 with depot A's alert in not_found
    # (tests/dispatch/test_alerts_bulk.py checks what each persona resolved).
    # Managers only (customers/personal_data/apis.py); an empty body names the missing e-mail or phone.
    "api/personal-data/export/": {
        "POST": (lambda w: "/api/personal-data/export/", lambda w, p: {}, _statuses(401, 403, 403, 403, 400))
    },
    "api/personal-data/erase/": {
        "POST": (lambda w: "/api/personal-data/erase/", lambda w, p: {}, _statuses(401, 403, 403, 403, 400))
    },
    "api/alerts/resolve/": {
        "POST": (
            lambda w: "/api/alerts/resolve/",
            lambda w, p: {
                "alerts": [
                    alerts.alert_open(depot_id=w["depot_a"].pk, kind="other", dedup_key=f"bulk:{p}", message="x").pk
                ]
            },
            OFFICE_READ,
        )
    },
    "api/analytics/kpis/": {"GET": (lambda w: "/api/analytics/kpis/", None, OFFICE_READ)},
    "api/analytics/export.csv": {"GET": (lambda w: "/api/analytics/export.csv", None, OFFICE_READ)},
    "api/analytics/eta-accuracy/": {"GET": (lambda w: "/api/analytics/eta-accuracy/", None, OFFICE_READ)},
    "api/orders/<int:order_id>/notifications/": {
        "GET": (lambda w: f"/api/orders/{w['order_a'].id}/notifications/", None, DEPOT_A_OBJECT)
    },
    # Customers hold tracking links and never log in: an unknown token is 404 for everybody.
    "api/track/<str:token>/": {"GET": (lambda w: f"/api/track/{w['token_a']}/", None, PUBLIC_200)},
    "api/track/<str:token>/feedback/": {
        "POST": (lambda w: f"/api/track/{UNKNOWN_TOKEN}/feedback/", lambda w, p: {"rating": 5}, NOT_FOUND_FOR_ALL)
    },
    "api/track/<str:token>/messages/": {
        "POST": (lambda w: f"/api/track/{UNKNOWN_TOKEN}/messages/", lambda w, p: {"text": "hi"}, NOT_FOUND_FOR_ALL)
    },
    "api/closures/<int:closure_id>/": {
        method: (lambda w: "/api/closures/999999/", None, _statuses(401, 403, 404, 404, 404))
        for method in ("GET", "PATCH", "DELETE")
    },
    # Courier partners (issue 20): managers keep them (office staff read the list to hand orders over).
    "api/partners/": {
        "GET": (lambda w: "/api/partners/", None, OFFICE_READ),
        "POST": (
            lambda w: "/api/partners/",
            lambda w, p: {"code": f"p-{p}", "name": "P", "price_per_stop": "5", "capacity_stops": 5, "cutoff": "07:00"},
            _statuses(401, 403, 403, 403, 201),
        ),
    },
    "api/partners/<str:code>/users/": {
        "POST": (
            lambda w: "/api/partners/alpen/users/",
            lambda w, p: {"username": f"pu_{p}", "password": PASSWORD},
            _statuses(401, 403, 403, 403, 201),
        )
    },
    # A dispatcher hands depot A's order over; the manager, second, finds it already handed (409).
    "api/orders/<int:order_id>/handoff/": {
        "POST": (
            lambda w: f"/api/orders/{w['order_a'].id}/handoff/",
            lambda w, p: {"partner": "alpen"},
            _statuses(401, 403, 201, 404, 409),
        )
    },
    # Taking Berg's order back (depot A): the dispatcher does; the manager, second, finds nothing to take back.
    "api/orders/<int:order_id>/handoff/cancel/": {
        "POST": (
            lambda w: f"/api/orders/{w['other_partner_order'].id}/handoff/cancel/",
            lambda w, p: {"reason": "our van"},
            _statuses(401, 403, 200, 404, 409),
        )
    },
    # A partner's courier on its way (Alpen shares positions); nobody else posts there.
    "api/partner/positions/": {
        "POST": (
            lambda w: "/api/partner/positions/",
            lambda w, p: {
                "order": w["partner_order"].id,
                "positions": [{"lat": 47.14, "lon": 9.52, "recorded_at": timezone.now().isoformat()}],
            },
            _statuses(401, 403, 403, 403, 403, 202),
        )
    },
    # Partners in the analytics: office staff read the figures; statements are the managers' and, for
    # its own, the partner's.
    "api/analytics/partners/": {"GET": (lambda w: "/api/analytics/partners/", None, OFFICE_READ)},
    "api/analytics/partners/<str:code>/statement.csv": {
        "GET": (
            lambda w: "/api/analytics/partners/alpen/statement.csv?month=2026-05",
            None,
            _statuses(401, 403, 403, 403, 200),
        )
    },
    "api/partner/statement/": {
        "GET": (lambda w: "/api/partner/statement/?month=2026-05", None, _statuses(401, 403, 403, 403, 403, 200))
    },
    # The partner's own API: its login only; another partner's order answers 404, as if absent.
    "api/partner/orders/": {"GET": (lambda w: "/api/partner/orders/", None, _statuses(401, 403, 403, 403, 403, 200))},
    **{
        f"api/partner/orders/<int:order_id>/{action}/": {
            "POST": (
                lambda w, a=action: f"/api/partner/orders/{w['other_partner_order'].id}/{a}/",
                lambda w, p: {},
                _statuses(401, 403, 403, 403, 403, 404),
            )
        }
        for action in ("accept", "reject", "arrive", "deliver", "fail")
    },
    # Delivery slots (issue 21): office staff and integrators (a dispatcher's token); depot B's dispatcher
    # is told depot A is unknown (400), as for every write naming depot A.
    "api/slots/": {
        "GET": (
            lambda w: f"/api/slots/?date={next_weekday(1)}&lat=47.14&lon=9.52&depot=A",
            None,
            _statuses(401, 403, 200, 400, 200),
        )
    },
    "api/slots/book/": {
        "POST": (
            lambda w: "/api/slots/book/",
            lambda w, p: {
                "reference": f"SLOT-{p}",
                "date": str(next_weekday(1)),
                "start": "09:00",
                "end": "11:00",
                "depot": "A",
                "lat": 47.14,
                "lon": 9.52,
            },
            DEPOT_A_WRITE,
        )  # fmt: skip
    },
    # What depot A offers: its dispatchers and the managers; depot B's dispatcher finds no such depot.
    "api/depots/<str:depot_id>/slot-policy/": {
        "GET": (lambda w: "/api/depots/A/slot-policy/", None, DEPOT_A_OBJECT),
        "PATCH": (lambda w: "/api/depots/A/slot-policy/", lambda w, p: {"slot_minutes": 60}, DEPOT_A_OBJECT),
    },
    "api/track/<str:token>/slots/": {"GET": (lambda w: f"/api/track/{w['token_a']}/slots/", None, PUBLIC_200)},
    "api/track/<str:token>/reschedule/": {
        "POST": (
            lambda w: f"/api/track/{UNKNOWN_TOKEN}/reschedule/",
            lambda w, p: {"date": str(next_weekday(1)), "start": "09:00", "end": "11:00"},
            NOT_FOUND_FOR_ALL,
        )
    },
}

ENDPOINTS = api_endpoints()
CASES = sorted((route, method) for route, view in ENDPOINTS.items() for method in view_methods(view))


def test_it_has_an_expectation_for_every_api_endpoint_and_method():
    found = {route: view_methods(view) for route, view in ENDPOINTS.items()}
    expected = {route: set(methods) for route, methods in EXPECTED.items()}
    missing = {r: sorted(m - expected.get(r, set())) for r, m in found.items() if m - expected.get(r, set())}
    stale = {r: sorted(m - found.get(r, set())) for r, m in expected.items() if m - found.get(r, set())}
    assert not missing, f"API endpoints without a row in EXPECTED (decide who may use them): {missing}"
    assert not stale, f"EXPECTED lists endpoints or methods that no longer exist: {stale}"


@pytest.fixture
def world(depot_a, depot_b, vehicle_a, vehicle_b, driver_a, dispatcher_a, dispatcher_b, manager):
    order_a = Order.objects.create(reference="OA", date=date(2026, 5, 4), depot=depot_a, lat=47.14, lon=9.52)
    order_b = Order.objects.create(reference="OB", date=date(2026, 5, 4), depot=depot_b, lat=47.20, lon=9.53)
    # Plans of a day to come: a day that is over may not be optimized again.
    plan_day = timezone.localdate() + timedelta(days=1)
    plan_a = Plan.objects.create(date=plan_day, depot=depot_a, version=1, status="failed")
    plan_b = Plan.objects.create(date=plan_day, depot=depot_b, version=1, status="failed")
    # Today, dispatched: driver_a's route and another driver's route of the same depot.
    today = timezone.localdate()
    vehicle_a2 = Vehicle.objects.create(name="A-Van-2", depot=depot_a, kind="van", capacity_kg=800)
    driver_a2 = driver_create(username="driver_a2", password=PASSWORD, name="Other Driver", vehicle=vehicle_a2)
    own, other = (
        Order.objects.create(reference=ref, date=today, depot=depot_a, lat=47.14, lon=9.52) for ref in ("OWN", "OTHER")
    )
    dispatched = write_plan(
        day=today, depot=depot_a, routes={(vehicle_a, driver_a): [own], (vehicle_a2, driver_a2): [other]}
    )
    plan_dispatch(plan=dispatched, by=dispatcher_a)
    # Courier partners: Alpen (whose login is the partner persona) and Berg, each with an order of today.
    alpen = partner_create(
        by=manager, code="alpen", name="Alpen", price_per_stop=5, capacity_stops=0, cutoff=time(7), shares_position=True
    )
    berg = partner_create(by=manager, code="berg", name="Berg", price_per_stop=5, capacity_stops=0, cutoff=time(7))
    partner_user_create(by=manager, partner=alpen, username="alpen_1", password=PASSWORD)
    partner_orders = {}
    for partner in (alpen, berg):
        handed = Order.objects.create(reference=f"P-{partner.code}", date=today, depot=depot_a, lat=47.14, lon=9.52)
        order_hand_off(order=handed, partner=partner, by=dispatcher_a)
        partner_orders[partner.code] = handed
    return {
        "depot_a": depot_a, "depot_b": depot_b, "vehicle_a": vehicle_a, "vehicle_b": vehicle_b,
        "driver_a": driver_a, "order_a": order_a, "order_b": order_b, "plan_a": plan_a, "plan_b": plan_b,
        "own_stop": Stop.objects.get(order=own), "other_stop": Stop.objects.get(order=other),
        "token_a": token_for_nonce(tracking_link_ensure(order=order_a).nonce),
        "token_b": token_for_nonce(tracking_link_ensure(order=order_b).nonce),
        "office_users": (dispatcher_a, dispatcher_b, manager),
        "partner_order": partner_orders["alpen"], "other_partner_order": partner_orders["berg"],
    }  # fmt: skip


@pytest.fixture
def clients(world, anonymous_client, driver_client, dispatcher_a_client, dispatcher_b_client, manager_client):
    partner_client = _client_for(get_user_model().objects.get(username="alpen_1"))
    # Another office, another address: per-IP rate limits (tracking) count it apart from the others.
    partner_client.defaults["REMOTE_ADDR"] = "127.0.0.20"
    return dict(
        zip(
            PERSONAS,
            (anonymous_client, driver_client, dispatcher_a_client, dispatcher_b_client, manager_client, partner_client),
        )
    )


@pytest.mark.parametrize(("route", "method"), CASES, ids=[f"{m} {r}" for r, m in CASES])
def test_it_answers_each_persona_as_expected(world, clients, route, method):
    assert route in EXPECTED and method in EXPECTED[route], f"no expectation for {method} {route}"
    path, body, statuses = EXPECTED[route][method]
    assert set(statuses) == set(PERSONAS)
    for persona in PERSONAS:
        data = body(world, persona) if body else None
        multipart = isinstance(data, dict) and any(isinstance(v, SimpleUploadedFile) for v in data.values())
        response = (
            clients[persona].generic(method, path(world))
            if data is None
            else getattr(clients[persona], method.lower())(
                path(world), data, format="multipart" if multipart else "json"
            )
        )
        allowed = statuses[persona] if isinstance(statuses[persona], tuple) else (statuses[persona],)
        assert response.status_code in allowed, (persona, method, route, response.content[:300])
        if response.status_code in (401, 403, 404) and route != "api/auth/token/":
            body_json = response.json()
            # One shape for every refusal; a 404 may say what was not found, never whose it is.
            assert body_json["detail"] and isinstance(body_json["errors"], list)
            if response.status_code in (401, 403):
                assert body_json["errors"] == []


@pytest.mark.parametrize(("route", "method"), CASES, ids=[f"{m} {r}" for r, m in CASES])
def test_it_refuses_methods_an_endpoint_does_not_offer(world, clients, route, method):
    path = EXPECTED[route][method][0](world)
    offered = view_methods(ENDPOINTS[route])
    statuses = EXPECTED[route][method][2]
    # Ask as someone the endpoint lets in (the manager, or the driver or partner for their own apps):
    # for the others the permission check answers first.
    allowed = next(p for p in ("manager", "driver", "partner") if statuses[p] not in (401, 403))
    for other in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - offered):
        response = clients[allowed].generic(other, path)
        assert response.status_code == 405, (other, route)
        # Anonymous visitors learn nothing about an office endpoint, whatever the method.
        if EXPECTED[route][method][2]["anonymous"] == 401:
            assert clients["anonymous"].generic(other, path).status_code == 401


LISTS = {
    # path -> (world key of depot A's object, of depot B's object, how the list names it)
    "/api/depots/": ("depot_a", "depot_b", "id"),
    "/api/vehicles/": ("vehicle_a", "vehicle_b", "id"),
    "/api/orders/": ("order_a", "order_b", "id"),
    "/api/plans/": ("plan_a", "plan_b", "id"),
}


@pytest.mark.parametrize("path", list(LISTS))
def test_it_lists_only_what_each_persona_may_see(world, clients, path):
    key_a, key_b, field = LISTS[path]
    a, b = getattr(world[key_a], field), getattr(world[key_b], field)
    seen = {persona: {item[field] for item in clients[persona].get(path).json()} for persona in OFFICE_PERSONAS}
    assert a in seen["dispatcher_a"] and b not in seen["dispatcher_a"]
    assert b in seen["dispatcher_b"] and a not in seen["dispatcher_b"]
    assert {a, b} <= seen["manager"]


def test_it_lists_drivers_only_of_the_dispatchers_depots(world, clients, depot_b):
    other = driver_create(username="driver_b", password="long-enough-1", name="Bo", depot=depot_b)
    seen = {p: {d["username"] for d in clients[p].get("/api/drivers/").json()} for p in OFFICE_PERSONAS}
    assert seen == {
        "dispatcher_a": {"driver_a", "driver_a2"},
        "dispatcher_b": {other.user.username},
        "manager": {"driver_a", "driver_a2", "driver_b"},
    }


def test_it_hides_depot_a_from_dispatcher_b_behind_every_filter(world, clients):
    b = clients["dispatcher_b"]
    assert b.get("/api/orders/?depot=A").json() == []
    assert b.get(f"/api/orders/?depot={world['depot_a'].id}").json() == []
    assert b.get("/api/vehicles/?depot=A").json() == []
    assert b.get(f"/api/depots/{world['depot_a'].id}/").status_code == 404
    assert b.get(f"/api/orders/{world['order_b'].id}/").status_code == 200
    assert clients["manager"].get(f"/api/orders/{world['order_b'].id}/").status_code == 200


def test_it_refuses_a_bad_token_and_lets_a_session_in(world, client, dispatcher_a):
    from rest_framework.test import APIClient

    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert stranger.get("/api/orders/").status_code == 401
    client.force_login(dispatcher_a)
    assert client.get("/api/orders/").status_code == 200


def test_it_hides_depot_a_from_dispatcher_b_in_plans_alerts_and_analytics(world, clients):
    alerts.alert_open(depot_id=world["depot_a"].pk, kind="other", dedup_key="scope:a", message="a")
    alerts.alert_open(depot_id=world["depot_b"].pk, kind="other", dedup_key="scope:b", message="b")
    b = clients["dispatcher_b"]
    assert b.get("/api/plans/?depot=A").json() == []
    assert b.get(f"/api/plans/?depot={world['depot_a'].id}").json() == []
    assert {alert["message"] for alert in b.get("/api/alerts/").json()} == {"b"}
    assert {alert["message"] for alert in clients["dispatcher_a"].get("/api/alerts/").json()} == {"a"}
    # Naming another depot (or its driver) in an analytics filter is an unknown value, never its figures.
    assert b.get("/api/analytics/kpis/?depot=A").status_code == 400
    assert b.get(f"/api/analytics/kpis/?driver={world['driver_a'].id}").status_code == 400
    assert b.get("/api/analytics/export.csv?depot=A").status_code == 400
    assert clients["manager"].get("/api/analytics/kpis/?depot=A").status_code == 200


def test_it_keeps_a_driver_to_their_own_route_and_stops(world, clients):
    driver = clients["driver"]
    route = driver.get("/api/driver/route/").json()["route"]
    assert [stop["id"] for stop in route["stops"]] == [world["own_stop"].id]
    other = world["other_stop"]
    for action, body in (
        ("arrive", {}),
        ("deliver", {"recipient_name": "X", "note": "x"}),
        ("fail", {"reason": "refused"}),
    ):
        response = driver.post(f"/api/driver/stops/{other.id}/{action}/", body, format="json")
        assert response.status_code == 404, (action, response.content)
    other.order.refresh_from_db()
    assert other.order.status == Order.Status.DISPATCHED
    assert driver.post(f"/api/driver/stops/{world['own_stop'].id}/arrive/", {}, format="json").status_code == 200


def test_it_lets_customers_in_only_through_a_live_token_of_their_own_order(world, clients, client):
    from datetime import timedelta

    from customers.models import CustomerMessage, TrackingLink
    from customers.tracking_links import tracking_links_create

    expired, revoked = tracking_links_create(orders=[world["order_a"], world["order_a"]])
    TrackingLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    TrackingLink.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    dead = [token_for_nonce(expired.nonce), token_for_nonce(revoked.nonce), UNKNOWN_TOKEN, world["token_a"][:-1]]
    anonymous = clients["anonymous"]
    for token in dead:
        answers = [
            anonymous.get(f"/api/track/{token}/"),
            anonymous.post(f"/api/track/{token}/feedback/", {"rating": 5}, format="json"),
            anonymous.post(f"/api/track/{token}/messages/", {"text": "hi"}, format="json"),
            client.get(f"/t/{token}/"),
            client.get(f"/t/{token}/proof/photo/"),
        ]
        assert [answer.status_code for answer in answers] == [404] * 5, token
        assert answers[0].json() == anonymous.get(f"/api/track/{UNKNOWN_TOKEN}/").json()  # the same 404 whatever why
    # A live token shows its own order, and what the customer writes lands on that order only.
    assert anonymous.get(f"/api/track/{world['token_b']}/").json()["reference"] == "OB"
    assert anonymous.get(f"/api/track/{world['token_a']}/").json()["reference"] == "OA"
    assert anonymous.post(f"/api/track/{world['token_b']}/messages/", {"text": "hi"}, format="json").status_code == 201
    assert list(CustomerMessage.objects.values_list("order__reference", flat=True)) == ["OB"]


# --- Pages (HTML, session) ---------------------------------------------------------------------
# Browsers use the session: anonymous visitors are sent to the login page, the wrong role gets a
# 403 page, another depot's object a 404.

REDIRECT_TO_LOGIN = "login"
OFFICE_PAGE = _statuses(REDIRECT_TO_LOGIN, 403, 200, 200, 200)
DEPOT_A_PAGE = _statuses(REDIRECT_TO_LOGIN, 403, 200, 404, 200)
# A form posted about depot A's order: done, then back to the order's page.
DEPOT_A_FORM = _statuses(REDIRECT_TO_LOGIN, 403, 302, 404, 302)
# A form about depot A's order with a bad value: the page again with the error, for those who may act.
DEPOT_A_INVALID_FORM = _statuses(REDIRECT_TO_LOGIN, 403, 400, 404, 400)
PUBLIC_PAGE = _statuses(200, 200, 200, 200, 200)

PAGES = {
    "healthz": {"GET": (lambda w: "/healthz", None, PUBLIC_PAGE)},
    # The base map is OpenStreetMap data for every map, the customer's tracking page's too: public.
    "map/tiles/<int:z>/<int:x>/<int:y>.pbf": {"GET": (lambda w: "/map/tiles/15/0/0.pbf", None, NOT_FOUND_FOR_ALL)},
    "map/fonts/<str:fontstack>/<int:start>-<int:end>.pbf": {
        "GET": (lambda w: "/map/fonts/Noto Sans Regular/0-255.pbf", None, PUBLIC_PAGE)
    },
    "login/": {
        "GET": (lambda w: "/login/", None, PUBLIC_PAGE),
        # Wrong credentials: the form again, for everybody.
        "POST": (lambda w: "/login/", {"username": "nobody", "password": "wrong"}, PUBLIC_PAGE),
    },
    "logout/": {"POST": (lambda w: "/logout/", {}, _statuses(302, 302, 302, 302, 302))},
    # The language switcher and the JavaScript texts: for everybody, the login page included.
    "language/": {
        "POST": (lambda w: "/language/", {"language": "de", "next": "/"}, _statuses(302, 302, 302, 302, 302))
    },
    "jsi18n/": {"GET": (lambda w: "/jsi18n/", None, PUBLIC_PAGE)},
    "favicon.ico": {"GET": (lambda w: "/favicon.ico", None, _statuses(301, 301, 301, 301, 301))},
    # Staff (the manager here) or the monitoring token; nobody else learns the figures.
    "metrics": {"GET": (lambda w: "/metrics", None, _statuses(401, 401, 401, 401, 200))},
    "admin/": {"GET": (lambda w: "/admin/", None, _statuses(302, 302, 302, 302, 200))},
    "": {"GET": (lambda w: "/", None, _statuses(REDIRECT_TO_LOGIN, 302, 200, 200, 200, partner=403))},
    "orders/import/": {"GET": (lambda w: "/orders/import/", None, OFFICE_PAGE)},
    "orders/<int:order_id>/": {"GET": (lambda w: f"/orders/{w['order_a'].id}/", None, DEPOT_A_PAGE)},
    "orders/<int:order_id>/reply/": {
        "POST": (lambda w: f"/orders/{w['order_a'].id}/reply/", {"text": "On its way"}, DEPOT_A_FORM)
    },
    "orders/<int:order_id>/tracking-link/": {
        "POST": (lambda w: f"/orders/{w['order_a'].id}/tracking-link/", {}, DEPOT_A_FORM)
    },
    # The order page's actions (tests/dispatch/test_order_page.py has each one done and refused): a
    # bad form is 400 for whoever may act, so each persona meets the same order.
    "orders/<int:order_id>/reschedule/": {
        "POST": (lambda w: f"/orders/{w['order_a'].id}/reschedule/", {"date": "not-a-day"}, DEPOT_A_INVALID_FORM)
    },
    "orders/<int:order_id>/edit/": {
        "POST": (lambda w: f"/orders/{w['order_a'].id}/edit/", {"notes": "Back door"}, DEPOT_A_FORM)
    },
    "orders/<int:order_id>/cancel/": {
        "POST": (lambda w: f"/orders/{w['order_a'].id}/cancel/", {"note": "x" * 501}, DEPOT_A_INVALID_FORM)
    },
    "orders/<int:order_id>/move/": {
        "POST": (lambda w: f"/orders/{w['order_a'].id}/move/", {"vehicle": "0"}, DEPOT_A_INVALID_FORM)
    },
    # Courier partners (issue 20; tests/partners/test_partner_journey.py does both for real).
    "orders/<int:order_id>/hand-off/": {
        "POST": (lambda w: f"/orders/{w['order_a'].id}/hand-off/", {"partner": "nope"}, DEPOT_A_INVALID_FORM)
    },
    "orders/<int:order_id>/take-back/": {
        "POST": (lambda w: f"/orders/{w['order_a'].id}/take-back/", {"reason": "x" * 501}, DEPOT_A_INVALID_FORM)
    },
    # The world has no proof of delivery: 404 for those who may look, as for those who may not.
    "orders/<int:order_id>/proofs/<int:proof_id>/<str:kind>/": {
        "GET": (
            lambda w: f"/orders/{w['order_a'].id}/proofs/1/photo/",
            None,
            _statuses(REDIRECT_TO_LOGIN, 403, 404, 404, 404),
        )
    },
    "inbox/": {"GET": (lambda w: "/inbox/", None, OFFICE_PAGE)},
    "live/": {"GET": (lambda w: "/live/", None, OFFICE_PAGE)},
    "alerts/": {"GET": (lambda w: "/alerts/", None, OFFICE_PAGE)},
    # Nothing ticked: back to the page with a word, for whoever may resolve (tests/dispatch/test_alerts_page.py).
    "alerts/resolve/": {"POST": (lambda w: "/alerts/resolve/", {}, _statuses(REDIRECT_TO_LOGIN, 403, 302, 302, 302))},
    "plans/": {"GET": (lambda w: "/plans/", None, OFFICE_PAGE)},
    "plans/<int:plan_id>/": {"GET": (lambda w: f"/plans/{w['plan_a'].id}/", None, DEPOT_A_PAGE)},
    "closures/": {"GET": (lambda w: "/closures/", None, OFFICE_PAGE)},
    "analytics/": {"GET": (lambda w: "/analytics/", None, OFFICE_PAGE)},
    "driver/": {"GET": (lambda w: "/driver/", None, _statuses(REDIRECT_TO_LOGIN, 200, 403, 403, 403, partner=403))},
    # The service worker script holds no data; it must load before anybody logs in.
    "driver/sw.js": {"GET": (lambda w: "/driver/sw.js", None, PUBLIC_PAGE)},
    # Customers never log in: the token is the only key, whoever holds it.
    "t/<str:token>/": {"GET": (lambda w: f"/t/{w['token_a']}/", None, PUBLIC_PAGE)},
    # Only a delivered order has proof; order_a is not delivered: 404 for everybody, logged in or not.
    "t/<str:token>/proof/<str:kind>/": {"GET": (lambda w: f"/t/{w['token_a']}/proof/photo/", None, NOT_FOUND_FOR_ALL)},
}


def page_routes() -> dict[str, object]:
    """Every route outside api/ in config.urls; the admin site counts as one (Django's own checks)."""
    found = {}
    for route, pattern in all_routes().items():
        if route.startswith("admin/"):
            found["admin/"] = "the admin site"
        elif not route.startswith("api/"):
            found[route] = pattern.callback
    return found


PAGE_CASES = sorted((route, method) for route, methods in PAGES.items() for method in methods)


def test_it_has_an_expectation_for_every_page():
    found = set(page_routes())
    assert not found - set(PAGES), f"pages without a row in PAGES (decide who may see them): {found - set(PAGES)}"
    assert not set(PAGES) - found, f"PAGES lists routes that no longer exist: {set(PAGES) - found}"


@pytest.fixture
def page_clients(world, manager, dispatcher_a, dispatcher_b, driver_a):
    from django.test import Client

    partner = get_user_model().objects.get(username="alpen_1")
    users = dict(zip(PERSONAS, (None, driver_a.user, dispatcher_a, dispatcher_b, manager, partner)))
    found = {}
    for persona, user in users.items():
        found[persona] = Client()
        if user is not None:
            found[persona].force_login(user)
    return found


@pytest.mark.parametrize(("route", "method"), PAGE_CASES, ids=[f"{m} {r or '/'}" for r, m in PAGE_CASES])
def test_it_shows_each_page_to_each_persona_as_expected(world, page_clients, route, method):
    path, data, statuses = PAGES[route][method]
    for persona in PERSONAS:
        client = page_clients[persona]
        response = client.get(path(world)) if method == "GET" else client.post(path(world), data)
        expected = statuses[persona]
        if expected == REDIRECT_TO_LOGIN:
            assert response.status_code == 302 and response.url.startswith("/login/"), (persona, route)
        elif route == "healthz":  # public; 503 names what is down (tests/test_health.py)
            assert response.status_code in (200, 503) and "database" in response.json(), persona
        else:
            assert response.status_code == expected, (persona, method, route, response.content[:200])


# --- WebSockets ----------------------------------------------------------------------------------
# Every socket route of config.routing × persona: accepted or refused at the handshake (a good Origin
# always sent; the foreign-Origin refusals live in tests/live and tests/customers).

ORIGIN = (b"origin", b"http://testserver")
OFFICE_SOCKET = dict(zip(PERSONAS, (False, False, True, True, True, False)))
WEBSOCKETS = {
    "ws/dispatch/": (lambda w: "/ws/dispatch/", OFFICE_SOCKET),
    # The token is the key: whoever holds a live one may follow that order, and nobody else.
    "ws/track/<str:token>/": (lambda w: f"/ws/track/{w['token_a']}/", dict.fromkeys(PERSONAS, True)),
}


def test_it_has_an_expectation_for_every_websocket_route():
    from config.routing import websocket_urlpatterns

    found = {str(pattern.pattern) for pattern in websocket_urlpatterns}
    assert found == set(WEBSOCKETS), f"socket routes without a row, or stale rows: {found ^ set(WEBSOCKETS)}"


@pytest.mark.django_db(transaction=True)
def test_it_lets_each_persona_open_only_the_sockets_it_may(world, isolated_live_state):  # noqa: F811
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator
    from rest_framework.authtoken.models import Token

    from config.asgi import application

    partner = get_user_model().objects.get(username="alpen_1")
    users = dict(zip(PERSONAS, (None, world["driver_a"].user, *world["office_users"], partner)))
    headers = {
        persona: [ORIGIN]
        + ([(b"authorization", f"Token {Token.objects.get_or_create(user=user)[0].key}".encode())] if user else [])
        for persona, user in users.items()
    }

    async def accepted(path, persona) -> bool:
        communicator = WebsocketCommunicator(application, path, headers=headers[persona])
        ok, _ = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return ok

    for route, (path, expected) in WEBSOCKETS.items():
        seen = {persona: async_to_sync(accepted)(path(world), persona) for persona in PERSONAS}
        assert seen == expected, route
    for dead in (UNKNOWN_TOKEN, world["token_a"][:-1]):
        assert not async_to_sync(accepted)(f"/ws/track/{dead}/", "anonymous")
