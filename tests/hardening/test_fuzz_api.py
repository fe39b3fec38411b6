"""Schemathesis against our own OpenAPI schema: every operation × every persona, in-process.

For each operation of /api/schema/ and each persona (anonymous, driver, dispatcher, manager) Hypothesis
generates requests from the schema, valid ones and invalid ones, and sends them to the Django app
(WSGI, in this process). Every answer must be a non-5xx whose status code, content type, headers and
body the schema documents.

The database holds a small world (two depots, vehicles, drivers, today's dispatched plan, a plan not yet
dispatched, a closure, alerts, notifications, tracking links, the demo road network), and path
parameters are drawn mostly from its real ids, so detail and action endpoints reach real objects, not
only 404s. Every example runs in a savepoint that is rolled back: unsafe operations (POST, PATCH,
DELETE) are fuzzed too, and each example starts from the same world.

Runs are derandomized, so a failure reproduces. To fuzz longer or differently:

    FUZZ_EXAMPLES=200 FUZZ_SEED=7 make test-production PYTEST_ARGS=tests/hardening/test_fuzz_api.py

FUZZ_EXAMPLES is the number of examples per operation and persona (default 25); FUZZ_SEED, when set,
replaces the derandomized seed with that one.
"""

import os
from datetime import time, timedelta

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from customers.models import Notification, TrackingLink
from customers.tracking_links import tracking_links_create
from customers.tracking_tokens import token_for_nonce
from dispatch import alerts
from dispatch.models import Order
from dispatch.partners.services import order_hand_off, partner_create, partner_user_create
from routes.closures.services import (
    closure_create,  # Fixtures shared with the other suites: own cache and channel-layer prefixes (autouse), today's
)

# dispatched routes, the demo road network (so that routing endpoints really route).
from tests.customers.conftest import isolated_state  # noqa: F401
from tests.driver.conftest import dispatched_route, driver_b, todays_orders, vehicle_a2, write_plan  # noqa: F401
from tests.routes.conftest import demo_network_dir, road_network  # noqa: F401

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
FUZZ_SEED = os.environ.get("FUZZ_SEED")

PERSONAS = ("anonymous", "driver", "dispatcher", "manager", "partner")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
OPERATIONS = sorted(
    ((result.ok().method.upper(), result.ok().path) for result in SCHEMA.get_all_operations()),
    key=lambda operation: (operation[1], operation[0]),
)


@pytest.fixture
def connections_kept_open():
    """Django's own test client does the same: the request must run in the test's transaction.

    The WSGI handler's request signals would otherwise close the connection in the middle of it.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(
    connections_kept_open, road_network, dispatched_route, todays_orders,  # noqa: F811 - imported fixtures
    depot_a, depot_b, vehicle_a, vehicle_b, driver_a, dispatcher_a, dispatcher_b, manager,
):  # fmt: skip
    """A small company on a working day (driver_a's route and another driver's, dispatched; a plan not
    dispatched yet; depot B's plan), and the values path parameters are drawn from."""
    today = timezone.localdate()
    orders = todays_orders
    waiting = Order.objects.create(reference="F-new", date=today, depot=depot_a, lat=47.141, lon=9.521)
    order_b = Order.objects.create(reference="F-B", date=today, depot=depot_b, lat=47.20, lon=9.53)
    dispatched = dispatched_route.plan
    draft = write_plan(day=today, depot=depot_a, routes={(vehicle_a, driver_a): [waiting]}, version=2)
    plan_b = write_plan(day=today, depot=depot_b, routes={(vehicle_b, None): [order_b]})
    own_stop, other_stop = dispatched_route.stops[0], dispatched_route.other_stop
    closure = closure_create(
        geometry={"type": "LineString", "coordinates": [[9.5213, 47.1399], [9.5235, 47.1450]]},
        reason="roadworks",
        by=dispatcher_a,
    )
    alert_a = alerts.alert_open(depot_id=depot_a.pk, kind="other", dedup_key="fuzz:a", message="late")
    alert_b = alerts.alert_open(depot_id=depot_b.pk, kind="other", dedup_key="fuzz:b", message="late")
    Notification.objects.create(
        order=orders[0], event="dispatched", channel="email", language="en", recipient="c0@example.com",
        subject="On its way", body="Your parcel comes today", status="sent",
    )  # fmt: skip
    valid, expired, revoked = tracking_links_create(orders=[orders[0], orders[1], orders[2]])
    TrackingLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    TrackingLink.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    # Courier partners (issue 20): Alpen's login fuzzes the partner API; Berg's order must stay a 404 to it.
    alpen = partner_create(
        by=manager, code="alpen", name="Alpen", price_per_stop=5, capacity_stops=0, cutoff=time(7), shares_position=True
    )
    berg = partner_create(by=manager, code="berg", name="Berg", price_per_stop=5, capacity_stops=0, cutoff=time(7))
    alpen_user = partner_user_create(by=manager, partner=alpen, username="alpen_1", password="long-enough-1")
    handed = {}
    for partner in (alpen, berg):
        handed[partner.code] = Order.objects.create(
            reference=f"F-{partner.code}", date=today, depot=depot_a, lat=47.14, lon=9.52
        )
        order_hand_off(order=handed[partner.code], partner=partner, by=dispatcher_a)
    tokens = {
        "anonymous": None,
        "driver": Token.objects.create(user=driver_a.user).key,
        "dispatcher": Token.objects.create(user=dispatcher_a).key,
        "manager": Token.objects.create(user=manager).key,
        "partner": Token.objects.create(user=alpen_user).key,
    }
    path_values = {
        "depot_id": [depot_a.code, str(depot_a.pk), depot_b.code],
        "vehicle_id": [vehicle_a.pk, vehicle_b.pk],
        "order_id": [orders[0].pk, waiting.pk, order_b.pk, handed["alpen"].pk, handed["berg"].pk],
        "code": ["alpen", "berg"],
        "plan_id": [dispatched.pk, draft.pk, plan_b.pk],
        "closure_id": [closure.pk],
        "alert_id": [alert_a.pk, alert_b.pk],
        "stop_id": [own_stop.pk, other_stop.pk],
        "token": [token_for_nonce(link.nonce) for link in (valid, expired, revoked)] + ["A" * 27],
    }
    return {"tokens": tokens, "path_values": path_values}


def _cases(operation, path_values):
    """Schemathesis' cases (valid and invalid), their path parameters mostly the world's real ids."""
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @st.composite
    def steered(draw):
        case = draw(cases)
        for name in list(case.path_parameters or {}):
            real = path_values.get(name)
            if real and draw(st.integers(0, 4)):  # four in five examples name a real object
                case.path_parameters[name] = draw(st.sampled_from(real))
        return case

    return steered()


def _fuzz_settings(test):
    test = hypothesis_settings(
        max_examples=FUZZ_EXAMPLES,
        derandomize=FUZZ_SEED is None,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )(test)
    return seed(int(FUZZ_SEED))(test) if FUZZ_SEED is not None else test


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_it_answers_every_generated_request_as_documented(world, method, path, persona):
    operation = SCHEMA[path][method]
    token = world["tokens"][persona]
    # The in-process client does not inflate gzip (GZipMiddleware), so ask for plain bodies.
    headers = {"Accept-Encoding": "identity"} | ({"Authorization": f"Token {token}"} if token else {})

    @_fuzz_settings
    @given(case=_cases(operation, world["path_values"]))
    def fuzz(case):
        case.headers = {name: value for name, value in (case.headers or {}).items() if name != "Authorization"}
        case.headers |= headers
        # Each example changes the world only inside this savepoint.
        with transaction.atomic():
            response = case.call()
            transaction.set_rollback(True)
        case.validate_response(response, checks=CHECKS)

    fuzz()


# Inputs the fuzzer found answered with a 500 once (PostgreSQL refuses NUL in text; "²".isdigit() is
# true but int("²") fails; a multipart depot with NUL reached a query before the field's own checks).
FOUND = [
    ("GET", "/api/vehicles/?depot=%00", None, 400),
    ("GET", "/api/depots/a%00b/", None, 404),
    ("GET", "/api/depots/%C2%B2/", None, 404),
    ("GET", "/api/orders/?depot=%C2%B2", None, 200),  # no such depot: nothing listed
    ("GET", "/api/orders/?depot=99999999999999999999", None, 200),
    ("GET", "/api/analytics/kpis/?depot=%C2%B2", None, 400),
    ("GET", "/api/orders/abc/", None, 404),
    ("POST", "/api/vehicles/", {"name": "V", "depot": "A\x00", "kind": "van", "capacity_kg": "1"}, 400),
]


@pytest.mark.parametrize(("method", "path", "data", "expected"), FOUND, ids=[f"{m} {p}" for m, p, _, _ in FOUND])
def test_it_answers_what_the_fuzzer_once_broke_without_a_server_error(
    manager_client, depot_a, method, path, data, expected
):
    response = manager_client.generic(method, path) if data is None else manager_client.post(path, data)
    assert response.status_code == expected, response.content[:300]
    if expected >= 400:
        assert response.json()["detail"]  # the API's error shape, even for a path no route matches
