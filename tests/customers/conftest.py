"""Customer-communication fixtures: a customer's order on a dispatched route driven by driver_a.

The plan is written directly (no optimization needed to test what the customer is told); events
are emitted as the services emit them, and on-commit callbacks (tasks) run inline.
"""

import copy
import uuid
from datetime import date, datetime, time, timedelta

import pytest
from channels.layers import channel_layers
from django.utils import timezone

from customers.tracking_links import tracking_links_create
from customers.tracking_tokens import token_for_nonce
from dispatch.models import Customer, Order
from routes.models import Plan, Route, Stop

DAY = date(2026, 5, 4)  # a day in the past, for tests that need no clock


def soon(minutes: int) -> datetime:
    return (timezone.now() + timedelta(minutes=minutes)).replace(second=0, microsecond=0)


@pytest.fixture(autouse=True)
def isolated_state(settings, tmp_path):
    """Own cache and channel-layer prefixes (rate-limit counters, seqs), files for mail, defaults for sending."""
    suffix = uuid.uuid4().hex[:10]
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    if "CONFIG" in layers["default"]:
        layers["default"]["CONFIG"]["prefix"] = f"test-cust-{suffix}"
    settings.CHANNEL_LAYERS = layers
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-cust-{suffix}"}}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "customers.notifications.backends.OutboxSmsBackend"
    settings.NOTIFICATION_WEBHOOK_URL = ""
    settings.PUBLIC_BASE_URL = "https://track.example.com"
    channel_layers.backends = {}
    yield
    channel_layers.backends = {}


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hh, mm)))


@pytest.fixture
def customer(db):
    return Customer.objects.create(name="Erika Muster", email="erika@example.com", phone="+41790000001", language="de")


def make_order(depot, reference: str, *, customer=None, day: date = DAY, status=Order.Status.DISPATCHED, **fields):
    defaults = {
        "customer_name": customer.name if customer else "Walk In",
        "email": customer.email if customer else "",
        "phone": customer.phone if customer else "",
        "lat": 47.141,
        "lon": 9.521,
    }
    defaults.update(fields)
    return Order.objects.create(
        reference=reference, date=day, depot=depot, customer=customer, status=status, **defaults
    )


def make_plan(depot, vehicle, driver, stops, *, day: date = DAY, version: int = 1, dispatched: bool = True) -> Plan:
    """stops: [(order, eta)] in driving order."""
    plan = Plan.objects.create(
        date=day, depot=depot, version=version, status=Plan.Status.DONE,
        dispatched_at=timezone.now() if dispatched else None,
    )  # fmt: skip
    route = Route.objects.create(plan=plan, vehicle=vehicle, driver=driver)
    for sequence, (order, eta) in enumerate(stops, start=1):
        Stop.objects.create(route=route, order=order, sequence=sequence, eta=eta, etd=eta + timedelta(minutes=5))
    return plan


def build_day_route(depot, vehicle, driver, customer) -> dict:
    """Today: three orders of `depot` on the driver's dispatched route, the customer's first (ETA in 2 h)."""
    today = timezone.localdate()
    first = make_order(depot, "ORD-1", customer=customer, day=today)
    second = make_order(
        depot,
        "ORD-2",
        customer=Customer.objects.create(name="John Smith", email="john@example.com", phone="", language="en"),
        day=today,
    )
    # No customer record: the order's own contact, the default language.
    third = make_order(depot, "ORD-3", day=today, phone="+41790000003")
    plan = make_plan(depot, vehicle, driver, [(first, soon(120)), (second, soon(150)), (third, soon(180))], day=today)
    return {"plan": plan, "orders": [first, second, third], "driver": driver}


@pytest.fixture
def day_route(depot_a, vehicle_a, driver_a, customer):
    return build_day_route(depot_a, vehicle_a, driver_a, customer)


def token_of(order) -> str:
    from customers.tracking_links import tracking_link_ensure

    return token_for_nonce(tracking_link_ensure(order=order).nonce)


def new_token(order) -> str:
    (link,) = tracking_links_create(orders=[order])
    return token_for_nonce(link.nonce)
