"""Courier-partner fixtures: two partners (Alpen Kurier, Berg Bote), each with a login, and orders of depot A."""

from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from dispatch.models import Order, Zone
from dispatch.partners.services import partner_create, partner_user_create
from tests.conftest import PASSWORD, _client_for
from tests.customers.conftest import customer, isolated_state  # noqa: F401 - fixtures (own cache, mail, channels)

SQUARE = {"type": "Polygon", "coordinates": [[[9.4, 47.0], [9.7, 47.0], [9.7, 47.3], [9.4, 47.3], [9.4, 47.0]]]}


@pytest.fixture
def zone_a(depot_a):
    return Zone.objects.create(code="malbun", name="Malbun", depot=depot_a, polygon=SQUARE)


@pytest.fixture
def partner(manager, zone_a):
    return partner_create(
        by=manager, code="alpen", name="Alpen Kurier", zones=["malbun"], price_per_stop=Decimal("9.50"),
        price_per_kg=Decimal("0.200"), price_per_zone={"malbun": "2.50"}, capacity_stops=10,
        capacity_kg=Decimal("200"), cutoff=time(7), opens=time(8), closes=time(18), skills=["fridge"],
        webhook_secret="alpen-secret-0123456789",
    )  # fmt: skip


@pytest.fixture
def other_partner(manager):
    return partner_create(
        by=manager, code="berg", name="Berg Bote", area=SQUARE, price_per_stop=Decimal("12"), capacity_stops=5,
        cutoff=time(17, 55), opens=time(8), closes=time(18),
    )  # fmt: skip


@pytest.fixture
def partner_user(partner, manager):
    return partner_user_create(by=manager, partner=partner, username="alpen_1", password=PASSWORD)


@pytest.fixture
def other_partner_user(other_partner, manager):
    return partner_user_create(by=manager, partner=other_partner, username="berg_1", password=PASSWORD)


@pytest.fixture
def partner_client(partner_user):
    return _client_for(partner_user)


@pytest.fixture
def other_partner_client(other_partner_user):
    return _client_for(other_partner_user)


@pytest.fixture
def tomorrow():
    return timezone.localdate() + timedelta(days=1)


def new_order(depot, reference, day, **fields) -> Order:
    defaults = {"lat": 47.14, "lon": 9.52, "weight_kg": Decimal("5"), "customer_name": "Erika Muster"}
    defaults.update(fields)
    return Order.objects.create(reference=reference, date=day, depot=depot, **defaults)
