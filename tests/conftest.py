"""Shared fixtures: the personas of STYLE.md and a small two-depot company.

Personas: a dispatcher of depot A, a dispatcher of depot B, a manager, a driver (of depot A),
an anonymous visitor. Each `*_client` is a DRF APIClient authenticated by token, as integrators are.
"""

from datetime import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dispatch.models import Depot, Vehicle
from dispatch.roles import DISPATCHER, MANAGER, ensure_role_groups
from dispatch.services import driver_create

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Tests create many users; the default hasher is deliberately slow.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _seed_reference_data() -> None:
    """What data migrations put in every database: role groups, traffic profiles, message templates.

    Transactional tests (live server, websockets, real workers) end with a flush that also removes
    these rows; put them back so that the order tests run in never matters.
    """
    from customers.models import NotificationTemplate
    from customers.notification_texts import DEFAULT_TEMPLATES
    from routes.models import TrafficProfile
    from routes.network.traffic import default_weekday_factors, default_weekend_factors

    ensure_role_groups()
    if not TrafficProfile.objects.exists():
        TrafficProfile.objects.bulk_create(
            TrafficProfile(road_class=road_class, day_type=day_type, hourly_factors=[round(f, 3) for f in factors])
            for day_type, table in (("weekday", default_weekday_factors()), ("weekend", default_weekend_factors()))
            for road_class, factors in table.items()
        )
    if not NotificationTemplate.objects.exists():
        NotificationTemplate.objects.bulk_create(
            NotificationTemplate(event=event, channel=channel, language=language, subject=subject, body=body)
            for (event, channel, language), (subject, body) in DEFAULT_TEMPLATES.items()
        )


@pytest.fixture(autouse=True)
def _reference_data(request):
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames)
    if uses_db:
        request.getfixturevalue("transactional_db" if "transactional_db" in request.fixturenames else "db")
        _seed_reference_data()


@pytest.fixture(autouse=True)
def _tasks_run_inline(settings):
    # Tasks run synchronously in the test's process unless a test starts a real worker.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.TASKS_RUN_INLINE = True


@pytest.fixture
def depot_a(db):
    return Depot.objects.create(code="A", name="Depot A", lat=47.14, lon=9.52)


@pytest.fixture
def depot_b(db):
    return Depot.objects.create(code="B", name="Depot B", lat=47.20, lon=9.53)


@pytest.fixture
def vehicle_a(depot_a):
    return Vehicle.objects.create(
        name="A-Van-1", depot=depot_a, kind="van", capacity_kg=800, capacity_items=100,
        shift_start=time(8), shift_end=time(17), skills=["fridge"],
    )  # fmt: skip


@pytest.fixture
def vehicle_b(depot_b):
    return Vehicle.objects.create(name="B-Bike-1", depot=depot_b, kind="cargo_bike", capacity_kg=150)


def _staff(username: str, role: str, depots=()):
    ensure_role_groups()
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    user.groups.add(Group.objects.get(name=role))
    for depot in depots:
        depot.dispatchers.add(user)
    return user


@pytest.fixture
def dispatcher_a(depot_a):
    return _staff("disp_a", DISPATCHER, [depot_a])


@pytest.fixture
def dispatcher_b(depot_b):
    return _staff("disp_b", DISPATCHER, [depot_b])


@pytest.fixture
def manager(db):
    user = _staff("manager", MANAGER)
    user.is_staff = True
    user.save()
    return user


@pytest.fixture
def driver_a(vehicle_a):
    return driver_create(username="driver_a", password=PASSWORD, name="Dana Driver", vehicle=vehicle_a)


def _client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def anonymous_client():
    return APIClient()


@pytest.fixture
def dispatcher_a_client(dispatcher_a):
    return _client_for(dispatcher_a)


@pytest.fixture
def dispatcher_b_client(dispatcher_b):
    return _client_for(dispatcher_b)


@pytest.fixture
def manager_client(manager):
    return _client_for(manager)


@pytest.fixture
def driver_client(driver_a):
    return _client_for(driver_a.user)
