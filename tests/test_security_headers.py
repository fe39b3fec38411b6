"""Security headers on every response: each URL in the resolver, asked for as someone it serves.

The routes come from config.urls itself, so a page or endpoint added without a row in PAGES fails
here until someone says who may open it. Admin routes are built from the admin registry: each one
is requested as the manager. Static files, 404s, 500s and a bad Host header are checked too.
"""

import html
import re
from datetime import date, timedelta

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import path

import config.urls
from config.security_headers import PERMISSIONS_POLICY
from customers.tracking_links import tracking_link_ensure
from customers.tracking_tokens import token_for_nonce
from dispatch.models import Order
from routes.models import Plan
from tests.url_routes import all_routes

ROUTES = all_routes()
ADMIN_PREFIX = "admin/"

# route -> (persona, path(world), expected statuses). One GET each; the persona is someone the
# route serves (or refuses on purpose where it takes only POST), so the headers of real answers are seen.
OK, REDIRECT, NOT_ALLOWED = (200,), (302,), (405,)
PAGES = {
    "healthz": ("anonymous", lambda w: "/healthz", (200, 503)),
    # The base map (dispatch/maps/views.py): a tile below the pyramid is a 404 with or without tiles.
    "map/tiles/<int:z>/<int:x>/<int:y>.pbf": ("anonymous", lambda w: "/map/tiles/15/0/0.pbf", (404,)),
    "map/fonts/<str:fontstack>/<int:start>-<int:end>.pbf": (
        "anonymous",
        lambda w: "/map/fonts/Noto Sans Regular/0-255.pbf",
        OK,
    ),
    "login/": ("anonymous", lambda w: "/login/", OK),
    "logout/": ("dispatcher", lambda w: "/logout/", NOT_ALLOWED),
    "language/": ("dispatcher", lambda w: "/language/", NOT_ALLOWED),
    "jsi18n/": ("anonymous", lambda w: "/jsi18n/", OK),
    "favicon.ico": ("anonymous", lambda w: "/favicon.ico", (301,)),
    "metrics": ("manager", lambda w: "/metrics", OK),
    "api/personal-data/export/": ("manager", lambda w: "/api/personal-data/export/", NOT_ALLOWED),
    "api/personal-data/erase/": ("manager", lambda w: "/api/personal-data/erase/", NOT_ALLOWED),
    "api/schema/": ("anonymous", lambda w: "/api/schema/?format=json", OK),
    "api/docs/": ("anonymous", lambda w: "/api/docs/", OK),
    "api/redoc/": ("anonymous", lambda w: "/api/redoc/", OK),
    "api/auth/token/": ("anonymous", lambda w: "/api/auth/token/", NOT_ALLOWED),
    "api/depots/": ("dispatcher", lambda w: "/api/depots/", OK),
    "api/depots/<str:depot_id>/": ("dispatcher", lambda w: f"/api/depots/{w['depot'].code}/", OK),
    "api/vehicles/": ("dispatcher", lambda w: "/api/vehicles/", OK),
    "api/vehicles/<int:vehicle_id>/": ("dispatcher", lambda w: f"/api/vehicles/{w['vehicle'].id}/", OK),
    "api/drivers/": ("dispatcher", lambda w: "/api/drivers/", OK),
    "api/orders/": ("dispatcher", lambda w: "/api/orders/", OK),
    "api/orders/import/": ("dispatcher", lambda w: "/api/orders/import/", NOT_ALLOWED),
    "api/orders/<int:order_id>/": ("dispatcher", lambda w: f"/api/orders/{w['order'].id}/", OK),
    "api/driver/route/": ("driver", lambda w: "/api/driver/route/", OK),
    "api/driver/stops/<int:stop_id>/arrive/": ("driver", lambda w: "/api/driver/stops/1/arrive/", NOT_ALLOWED),
    "api/driver/stops/<int:stop_id>/deliver/": ("driver", lambda w: "/api/driver/stops/1/deliver/", NOT_ALLOWED),
    "api/driver/stops/<int:stop_id>/fail/": ("driver", lambda w: "/api/driver/stops/1/fail/", NOT_ALLOWED),
    "api/driver/positions/": ("driver", lambda w: "/api/driver/positions/", NOT_ALLOWED),
    # Courier partners (issue 20): the manager lists them; the partner API refuses office staff (403).
    "api/partners/": ("manager", lambda w: "/api/partners/", OK),
    "api/partners/<str:code>/users/": ("manager", lambda w: "/api/partners/alpen/users/", NOT_ALLOWED),
    "api/orders/<int:order_id>/handoff/": ("dispatcher", lambda w: "/api/orders/1/handoff/", NOT_ALLOWED),
    "api/partner/orders/": ("manager", lambda w: "/api/partner/orders/", (403,)),
    "api/orders/<int:order_id>/handoff/cancel/": (
        "dispatcher",
        lambda w: "/api/orders/1/handoff/cancel/",
        NOT_ALLOWED,
    ),
    "api/partner/positions/": ("manager", lambda w: "/api/partner/positions/", (403,)),
    "api/analytics/partners/": ("dispatcher", lambda w: "/api/analytics/partners/", OK),
    "api/analytics/partners/<str:code>/statement.csv": (
        "manager",
        lambda w: "/api/analytics/partners/nope/statement.csv?month=2026-05",
        (404,),
    ),
    "api/partner/statement/": ("manager", lambda w: "/api/partner/statement/?month=2026-05", (403,)),
    **{
        f"api/partner/orders/<int:order_id>/{action}/": (
            "manager",
            lambda w, a=action: f"/api/partner/orders/1/{a}/",
            (403,),
        )
        for action in ("accept", "reject", "arrive", "deliver", "fail")
    },
    "api/alerts/": ("dispatcher", lambda w: "/api/alerts/", OK),
    "api/alerts/<int:alert_id>/resolve/": ("dispatcher", lambda w: "/api/alerts/1/resolve/", NOT_ALLOWED),
    "api/alerts/resolve/": ("dispatcher", lambda w: "/api/alerts/resolve/", NOT_ALLOWED),
    "api/routing/matrix/": ("dispatcher", lambda w: "/api/routing/matrix/", NOT_ALLOWED),
    "api/routing/route/": ("dispatcher", lambda w: "/api/routing/route/", NOT_ALLOWED),
    "api/routing/geocode/": ("dispatcher", lambda w: "/api/routing/geocode/", (400,)),
    "api/closures/": ("dispatcher", lambda w: "/api/closures/", OK),
    "api/closures/<int:closure_id>/": ("dispatcher", lambda w: "/api/closures/999999/", (404,)),
    "api/plans/": ("dispatcher", lambda w: "/api/plans/", OK),
    "api/plans/<int:plan_id>/": ("dispatcher", lambda w: f"/api/plans/{w['plan'].id}/", OK),
    **{
        f"api/plans/<int:plan_id>/{action}/": (
            "dispatcher",
            lambda w, a=action: f"/api/plans/{w['plan'].id}/{a}/",
            NOT_ALLOWED,
        )
        for action in ("dispatch", "select", "edit", "reoptimize", "replan", "approve", "reject")
    },
    "api/orders/<int:order_id>/notifications/": (
        "dispatcher",
        lambda w: f"/api/orders/{w['order'].id}/notifications/",
        OK,
    ),
    "api/track/<str:token>/": ("anonymous", lambda w: f"/api/track/{w['token']}/", OK),
    "api/track/<str:token>/feedback/": ("anonymous", lambda w: f"/api/track/{w['token']}/feedback/", NOT_ALLOWED),
    "api/track/<str:token>/messages/": ("anonymous", lambda w: f"/api/track/{w['token']}/messages/", NOT_ALLOWED),
    "api/track/<str:token>/slots/": ("anonymous", lambda w: f"/api/track/{w['token']}/slots/", OK),
    "api/track/<str:token>/reschedule/": ("anonymous", lambda w: f"/api/track/{w['token']}/reschedule/", NOT_ALLOWED),
    "api/slots/": (
        "dispatcher",
        lambda w: f"/api/slots/?date={date.today() + timedelta(days=3)}&lat=47.14&lon=9.52",
        OK,
    ),
    "api/slots/book/": ("dispatcher", lambda w: "/api/slots/book/", NOT_ALLOWED),
    "api/depots/<str:depot_id>/slot-policy/": (
        "dispatcher",
        lambda w: f"/api/depots/{w['depot'].code}/slot-policy/",
        OK,
    ),
    "api/analytics/kpis/": ("dispatcher", lambda w: "/api/analytics/kpis/", OK),
    "api/analytics/export.csv": ("dispatcher", lambda w: "/api/analytics/export.csv", OK),
    "api/analytics/eta-accuracy/": ("dispatcher", lambda w: "/api/analytics/eta-accuracy/", OK),
    "t/<str:token>/": ("anonymous", lambda w: f"/t/{w['token']}/", OK),
    "t/<str:token>/proof/<str:kind>/": ("anonymous", lambda w: f"/t/{w['token']}/proof/photo/", (404,)),
    "driver/": ("driver", lambda w: "/driver/", OK),
    "driver/sw.js": ("driver", lambda w: "/driver/sw.js", OK),
    "": ("dispatcher", lambda w: "/", OK),
    "orders/import/": ("dispatcher", lambda w: "/orders/import/", OK),
    "orders/<int:order_id>/": ("dispatcher", lambda w: f"/orders/{w['order'].id}/", OK),
    "orders/<int:order_id>/reply/": ("dispatcher", lambda w: f"/orders/{w['order'].id}/reply/", NOT_ALLOWED),
    "orders/<int:order_id>/tracking-link/": (
        "dispatcher",
        lambda w: f"/orders/{w['order'].id}/tracking-link/",
        NOT_ALLOWED,
    ),
    "orders/<int:order_id>/reschedule/": ("dispatcher", lambda w: f"/orders/{w['order'].id}/reschedule/", NOT_ALLOWED),
    "orders/<int:order_id>/edit/": ("dispatcher", lambda w: f"/orders/{w['order'].id}/edit/", NOT_ALLOWED),
    "orders/<int:order_id>/cancel/": ("dispatcher", lambda w: f"/orders/{w['order'].id}/cancel/", NOT_ALLOWED),
    "orders/<int:order_id>/move/": ("dispatcher", lambda w: f"/orders/{w['order'].id}/move/", NOT_ALLOWED),
    "orders/<int:order_id>/hand-off/": ("dispatcher", lambda w: f"/orders/{w['order'].id}/hand-off/", NOT_ALLOWED),
    "orders/<int:order_id>/take-back/": ("dispatcher", lambda w: f"/orders/{w['order'].id}/take-back/", NOT_ALLOWED),
    "orders/<int:order_id>/proofs/<int:proof_id>/<str:kind>/": (
        "dispatcher",
        lambda w: f"/orders/{w['order'].id}/proofs/1/photo/",
        (404,),
    ),
    "inbox/": ("dispatcher", lambda w: "/inbox/", OK),
    "live/": ("dispatcher", lambda w: "/live/", OK),
    "alerts/": ("dispatcher", lambda w: "/alerts/", OK),
    "alerts/resolve/": ("dispatcher", lambda w: "/alerts/resolve/", NOT_ALLOWED),
    "plans/": ("dispatcher", lambda w: "/plans/", OK),
    "plans/<int:plan_id>/": ("dispatcher", lambda w: f"/plans/{w['plan'].id}/", OK),
    "closures/": ("dispatcher", lambda w: "/closures/", OK),
    "analytics/": ("manager", lambda w: "/analytics/", OK),
}


# The admin's regular-expression routes, and the values its converters get.
ADMIN_REGEX_PATHS = {r"(?P<app_label>": "/admin/dispatch/", r"(?P<url>": "/admin/no-such-page/"}


def admin_path(route: str, world) -> str:
    """A path for an admin route: the world's order for object routes, the dispatch app for app routes."""
    for marker, fixed in ADMIN_REGEX_PATHS.items():
        if marker in route:
            return fixed
    values = {
        "object_id": str(world["order"].id),
        "content_type_id": str(world["order_type"].id),
        "id": str(world["driver_user"].id),  # the user admin's password form
    }
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], route)


@pytest.fixture
def world(depot_a, vehicle_a, driver_a):
    order = Order.objects.create(reference="SEC-1", date=date(2026, 5, 4), depot=depot_a, lat=47.14, lon=9.52)
    plan = Plan.objects.create(date=date(2026, 5, 4), depot=depot_a, version=1, status="failed")
    token = token_for_nonce(tracking_link_ensure(order=order).nonce)
    return {
        "depot": depot_a, "vehicle": vehicle_a, "order": order, "plan": plan, "token": token,
        "order_type": ContentType.objects.get_for_model(Order), "driver_user": driver_a.user,
    }  # fmt: skip


@pytest.fixture
def personas(dispatcher_a, manager, driver_a):
    manager.is_superuser = True  # every admin page, not only the manager group's models
    manager.save()
    clients = {"anonymous": Client()}
    for name, user in (("dispatcher", dispatcher_a), ("manager", manager), ("driver", driver_a.user)):
        clients[name] = Client()
        clients[name].force_login(user)
    return clients


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_security_headers(response, where: str) -> None:
    headers = response.headers
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("Referrer-Policy") in ("same-origin", "no-referrer"), where
    assert headers.get("Cross-Origin-Opener-Policy") == "same-origin", where
    assert headers.get("Permissions-Policy") == PERMISSIONS_POLICY, where
    csp = csp_directives(headers.get("Content-Security-Policy", "default-src *"))
    scripts = csp.get("script-src", csp["default-src"])
    assert "'self'" in scripts and not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:"} & set(scripts), where
    assert csp.get("object-src", csp["default-src"]) == ["'none'"] or csp["default-src"] == ["'none'"], where
    assert csp["frame-ancestors"] == ["'none'"], where
    if "text/html" in headers.get("Content-Type", ""):
        assert_inline_code_is_allowed(response.content.decode(), csp, where)


def _allows(sources: list[str], tag: str) -> bool:
    nonce = next((s[len("'nonce-") : -1] for s in sources if s.startswith("'nonce-")), None)
    if nonce:
        return f'nonce="{nonce}"' in tag
    return "'unsafe-inline'" in sources


def assert_inline_code_is_allowed(page: str, csp: dict[str, list[str]], where: str) -> None:
    """Every inline script and style element (in the page and in its srcdoc maps) is allowed by the policy."""
    documents = [page] + [html.unescape(doc) for doc in re.findall(r'srcdoc="([^"]*)"', page)]
    for document in documents:
        for tag in re.findall(r"<(?:script|style)\b[^>]*>", document):
            if tag.startswith("<script") and (" src=" in tag or 'type="application/json"' in tag):
                continue  # a file from 'self', or json_script data that never runs
            directive = "script-src" if tag.startswith("<script") else "style-src"
            assert _allows(csp.get(directive, csp["default-src"]), tag), (where, tag)
    # No inline event handlers (onclick=…) and no javascript: URLs: no nonce can allow them.
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", page), where
    assert "javascript:" not in page.lower(), where


def test_it_knows_who_to_ask_for_every_route():
    found = {route for route in ROUTES if not route.startswith(ADMIN_PREFIX)}
    assert not found - set(PAGES), f"routes without a row in PAGES (who opens them?): {sorted(found - set(PAGES))}"
    assert not set(PAGES) - found, f"PAGES lists routes that no longer exist: {sorted(set(PAGES) - found)}"


@pytest.mark.parametrize("route", sorted(PAGES), ids=lambda r: r or "home")
def test_it_sends_the_security_headers_on_every_page_and_endpoint(world, personas, route):
    persona, path_for, statuses = PAGES[route]
    response = personas[persona].get(path_for(world))
    assert response.status_code in statuses, (route, response.status_code, response.content[:300])
    assert_security_headers(response, route)


def test_it_sends_the_security_headers_on_every_admin_page(world, personas):
    admin_routes = sorted(route for route in ROUTES if route.startswith(ADMIN_PREFIX))
    assert len(admin_routes) > 5 * len(admin.site._registry)  # changelist, add, change, delete, history each
    for route in admin_routes:
        response = personas["manager"].get(admin_path(route, world))
        assert response.status_code < 500, (route, response.status_code)
        assert_security_headers(response, route)


def test_it_sends_them_with_static_files_errors_and_refusals(world, personas, client):
    checks = {
        "static file": client.get("/static/css/app.css"),
        "page not found": client.get("/no-such-page/"),
        "API not found": personas["dispatcher"].get("/api/no-such-endpoint/"),
        "login redirect": client.get("/plans/"),
        "bad host": client.get("/login/", HTTP_HOST="evil.example.com"),
    }
    assert checks["static file"].status_code == 200
    assert checks["page not found"].status_code == checks["API not found"].status_code == 404
    assert checks["login redirect"].status_code == 302 and checks["bad host"].status_code == 400
    for name, response in checks.items():
        assert_security_headers(response, name)


def _boom(request):
    raise RuntimeError("boom")


urlpatterns = [path("boom/", _boom)] + config.urls.urlpatterns
handler500 = getattr(config.urls, "handler500", "django.views.defaults.server_error")


@pytest.mark.urls(__name__)
def test_it_sends_them_with_a_server_error(db):
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    assert response.status_code == 500
    assert_security_headers(response, "server error")


def test_it_sends_hsts_over_https_when_configured(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = client.get("/login/", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000; includeSubDomains")
    assert_security_headers(response, "https login")


def test_it_gives_each_response_its_own_nonce(client):
    first, second = (csp_directives(client.get("/login/")["Content-Security-Policy"]) for _ in range(2))
    assert first["script-src"] != second["script-src"]
    assert all(s.startswith("'nonce-") for s in (first["script-src"][1], second["script-src"][1]))


def test_it_stamps_map_documents_with_the_nonce_but_never_data(world, personas):
    world["order"].customer_name = '</script><script>alert("x")</script><style>'
    world["order"].save()
    page = personas["dispatcher"].get("/?date=2026-05-04").content.decode()
    maps = [html.unescape(doc) for doc in re.findall(r'srcdoc="([^"]*)"', page)]
    assert maps and "DispatchMap.orders" in maps[0]
    assert "<script>alert" not in maps[0] and 'alert(\\"x\\")' in maps[0]
    assert re.search(r'<script nonce="[\w-]+">', maps[0])
