"""The admin site: who gets in, that every page renders, the order actions, and changelist query counts."""

from datetime import date, datetime, time, timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.models import TrackingLink
from customers.tracking_links import tracking_links_create
from dispatch.models import Customer, Depot, Driver, Order, OrderStatusChange, Vehicle, Zone
from dispatch.orders.services import order_change_status
from dispatch.roles import MANAGER
from tests.conftest import PASSWORD

S = Order.Status

SQUARE = {"type": "Polygon", "coordinates": [[[9.5, 47.1], [9.6, 47.1], [9.6, 47.2], [9.5, 47.2], [9.5, 47.1]]]}

# The models this project registers; auth's User and Group keep Django's own admin.
PROJECT_MODELS = [Depot, Zone, Vehicle, Driver, Customer, Order, OrderStatusChange, TrackingLink]
# Written only by services: history is append-only, tracking links come with their order.
NOT_ADDED_IN_ADMIN = {OrderStatusChange, TrackingLink}


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _order(depot, reference: str, *, status=S.NEW, day: date | None = None, customer=None, zone=None) -> Order:
    day = day or timezone.localdate() + timedelta(days=1)
    tz = timezone.get_current_timezone()
    order = Order.objects.create(
        reference=reference,
        date=day,
        depot=depot,
        customer=customer,
        zone=zone,
        customer_name=f"Customer of {reference}",
        address="Städtle 1, Vaduz",
        lat=47.14,
        lon=9.52,
        window_start=datetime.combine(day, time(9), tz),
        window_end=datetime.combine(day, time(12), tz),
    )
    path = {
        S.NEW: [],
        S.PLANNED: [S.PLANNED],
        S.DISPATCHED: [S.PLANNED, S.DISPATCHED],
        S.DELIVERED: [S.PLANNED, S.DISPATCHED, S.ARRIVED, S.DELIVERED],
        S.CANCELLED: [S.CANCELLED],
    }[status]
    for to_status in path:
        order_change_status(order=order, to_status=to_status)
    order.refresh_from_db()
    return order


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser(username="root", password=PASSWORD, email="root@example.com")


@pytest.fixture
def superuser_web(superuser):
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def manager_web(manager):
    client = Client()
    client.force_login(manager)
    return client


@pytest.fixture
def company(depot_a, vehicle_a, driver_a):
    """One of everything, so that every change page has an object to show."""
    customer = Customer.objects.create(name="Erika Muster", email="erika@example.com", phone="+423 000 00 00")
    zone = Zone.objects.create(code="vaduz", name="Vaduz", depot=depot_a, polygon=SQUARE, access_time_s=60)
    order = _order(depot_a, "ORD-1", status=S.PLANNED, customer=customer, zone=zone)
    (link,) = tracking_links_create(orders=[order])
    return {
        Depot: depot_a,
        Zone: zone,
        Vehicle: vehicle_a,
        Driver: driver_a,
        Customer: customer,
        Order: order,
        OrderStatusChange: order.status_history.get(),
        TrackingLink: link,
    }


# --- Who gets in ---------------------------------------------------------------------------------


def test_it_registers_every_project_model():
    registered = set(admin.site._registry)
    assert set(PROJECT_MODELS) <= registered
    assert get_user_model() in registered and Group in registered


def test_it_gives_the_manager_group_the_model_permissions(db):
    codenames = set(Group.objects.get(name=MANAGER).permissions.values_list("codename", flat=True))
    for model in PROJECT_MODELS:
        name = model._meta.model_name
        assert {f"add_{name}", f"change_{name}", f"view_{name}"} <= codenames
        assert (f"delete_{name}" in codenames) == (model is not OrderStatusChange)


@pytest.mark.parametrize("persona", ["superuser_web", "manager_web"])
def test_it_renders_every_changelist_add_and_change_page(request, persona, company):
    client = request.getfixturevalue(persona)
    for model in PROJECT_MODELS:
        assert client.get(_url(model, "changelist")).status_code == 200, model
        assert client.get(_url(model, "change", company[model].pk)).status_code == 200, model
        expected = 403 if model in NOT_ADDED_IN_ADMIN else 200
        assert client.get(_url(model, "add")).status_code == expected, model
    assert client.get(reverse("admin:index")).status_code == 200


def test_it_renders_auth_admin_for_the_superuser(superuser_web, manager):
    User = get_user_model()
    for model, pk in [(User, manager.pk), (Group, Group.objects.get(name=MANAGER).pk)]:
        assert superuser_web.get(_url(model, "changelist")).status_code == 200
        assert superuser_web.get(_url(model, "add")).status_code == 200
        assert superuser_web.get(_url(model, "change", pk)).status_code == 200


def test_it_sends_a_dispatcher_to_the_admin_login(dispatcher_a, company):
    client = Client()
    client.force_login(dispatcher_a)
    for url in [reverse("admin:index"), _url(Order, "changelist"), _url(Order, "change", company[Order].pk)]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_it_sends_an_anonymous_visitor_to_the_admin_login(db):
    response = Client().get(_url(Order, "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_it_keeps_status_and_history_read_only(manager_web, company):
    order = company[Order]
    response = manager_web.get(_url(Order, "change", order.pk))
    form = response.context["adminform"].form
    assert "status" not in form.fields
    assert "nonce" not in response.content.decode()
    # Posting a status anyway changes nothing.
    data = {
        "reference": order.reference,
        "date": order.date.isoformat(),
        "depot": order.depot_id,
        "status": S.DELIVERED,
        "priority": 0,
        "customer": order.customer_id,
        "lat": order.lat,
        "lon": order.lon,
        "service_minutes": 5,
        "weight_kg": "0",
        "volume_l": "0",
        "items": 1,
        "skills": "[]",
        "status_history-TOTAL_FORMS": "1",
        "status_history-INITIAL_FORMS": "1",
        "status_history-MIN_NUM_FORMS": "0",
        "status_history-MAX_NUM_FORMS": "1000",
    }
    response = manager_web.post(_url(Order, "change", order.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    order.refresh_from_db()
    assert order.status == S.PLANNED
    assert order.status_history.count() == 1
    history = company[OrderStatusChange]
    assert manager_web.post(_url(OrderStatusChange, "delete", history.pk), {"post": "yes"}).status_code == 403
    assert OrderStatusChange.objects.filter(pk=history.pk).exists()


def test_it_refuses_a_zone_polygon_that_is_not_geojson(manager_web, depot_a):
    data = {"code": "bad", "name": "Bad", "depot": depot_a.pk, "color": "#000000", "access_time_s": 0}
    response = manager_web.post(_url(Zone, "add"), {**data, "polygon": '{"type": "Point", "coordinates": [9, 47]}'})
    assert response.status_code == 200
    assert "polygon" in response.context["adminform"].form.errors
    response = manager_web.post(_url(Zone, "add"), {**data, "polygon": '{"type": "Polygon", "coordinates": []}'})
    assert "polygon" in response.context["adminform"].form.errors
    assert not Zone.objects.exists()


# --- Order actions -------------------------------------------------------------------------------


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_it_cancels_allowed_orders_and_skips_delivered_ones(manager_web, manager, depot_a):
    new = _order(depot_a, "ORD-NEW")
    planned = _order(depot_a, "ORD-PLANNED", status=S.PLANNED)
    delivered = _order(depot_a, "ORD-DONE", status=S.DELIVERED)
    response = manager_web.post(
        _url(Order, "changelist"),
        {"action": "cancel_orders", "_selected_action": [new.pk, planned.pk, delivered.pk]},
        follow=True,
    )
    assert response.status_code == 200
    statuses = dict(Order.objects.values_list("reference", "status"))
    assert statuses == {"ORD-NEW": S.CANCELLED, "ORD-PLANNED": S.CANCELLED, "ORD-DONE": S.DELIVERED}
    assert OrderStatusChange.objects.filter(to_status=S.CANCELLED, changed_by=manager).count() == 2
    shown = _messages(response)
    assert "2 orders cancelled." in shown
    assert any("1 order was not cancelled" in m and "ORD-DONE" in m and "delivered" in m for m in shown)


def test_it_asks_for_a_date_before_moving_orders(manager_web, depot_a):
    order = _order(depot_a, "ORD-1")
    response = manager_web.post(_url(Order, "changelist"), {"action": "move_to_date", "_selected_action": [order.pk]})
    assert response.status_code == 200
    assert "admin/dispatch/order/move_to_date.html" in [t.name for t in response.templates]
    assert "ORD-1" in response.content.decode()
    order.refresh_from_db()
    assert order.date == timezone.localdate() + timedelta(days=1)


def _local(moment: datetime) -> tuple[date, time]:
    local = timezone.localtime(moment)
    return local.date(), local.time()


def test_it_moves_new_and_planned_orders_and_shifts_their_windows(manager_web, depot_a):
    new = _order(depot_a, "ORD-NEW")
    planned = _order(depot_a, "ORD-PLANNED", status=S.PLANNED)
    dispatched = _order(depot_a, "ORD-OUT", status=S.DISPATCHED)
    old_day = new.date
    new_day = old_day + timedelta(days=3)
    response = manager_web.post(
        _url(Order, "changelist"),
        {
            "action": "move_to_date",
            "index": "0",
            "select_across": "0",
            "apply": "Move orders",
            "new_date": new_day.isoformat(),
            "_selected_action": [new.pk, planned.pk, dispatched.pk],
        },
        follow=True,
    )
    assert response.status_code == 200
    for order in (new, planned):
        order.refresh_from_db()
        assert order.date == new_day
        assert order.status == S.NEW
        assert _local(order.window_start) == (new_day, time(9))
        assert _local(order.window_end) == (new_day, time(12))
    dispatched.refresh_from_db()
    assert (dispatched.date, dispatched.status) == (old_day, S.DISPATCHED)
    shown = _messages(response)
    assert f"2 orders moved to {new_day.isoformat()}." in shown
    assert any("1 order was not moved" in m and "ORD-OUT" in m for m in shown)


def test_it_keeps_local_window_times_when_moving_across_a_dst_change(manager_web, depot_a):
    # Europe/Vaduz (the default TIME_ZONE) springs forward on 2099-03-29: 09:00 must stay 09:00.
    order = _order(depot_a, "ORD-1", day=date(2099, 3, 27))
    new_day = date(2099, 3, 30)
    manager_web.post(
        _url(Order, "changelist"),
        {"action": "move_to_date", "apply": "1", "new_date": new_day.isoformat(), "_selected_action": [order.pk]},
    )
    order.refresh_from_db()
    assert order.date == new_day
    assert _local(order.window_start) == (new_day, time(9))


def test_it_refuses_to_move_orders_into_the_past(manager_web, depot_a):
    order = _order(depot_a, "ORD-1")
    yesterday = timezone.localdate() - timedelta(days=1)
    response = manager_web.post(
        _url(Order, "changelist"),
        {"action": "move_to_date", "apply": "1", "new_date": yesterday.isoformat(), "_selected_action": [order.pk]},
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    order.refresh_from_db()
    assert order.date != yesterday


def test_it_moves_every_filtered_order_when_all_are_selected(manager_web, depot_a, depot_b):
    a1 = _order(depot_a, "A-1")
    _order(depot_a, "A-2")
    b1 = _order(depot_b, "B-1")
    new_day = a1.date + timedelta(days=1)
    response = manager_web.post(
        _url(Order, "changelist") + f"?depot__id__exact={depot_a.pk}",
        {
            "action": "move_to_date",
            "index": "0",
            "select_across": "1",
            "apply": "1",
            "new_date": new_day.isoformat(),
            "_selected_action": [a1.pk],
        },
    )
    assert response.status_code == 302
    assert set(Order.objects.filter(date=new_day).values_list("reference", flat=True)) == {"A-1", "A-2"}
    b1.refresh_from_db()
    assert b1.date != new_day


def test_it_does_not_offer_deleting_orders_in_bulk(manager_web, depot_a):
    order = _order(depot_a, "ORD-1", status=S.PLANNED)
    response = manager_web.get(_url(Order, "changelist"))
    actions = [name for name, _label in response.context["action_form"].fields["action"].choices]
    assert "cancel_orders" in actions and "delete_selected" not in actions
    assert manager_web.get(_url(Order, "delete", order.pk)).status_code == 403


# --- Fleet and tracking actions ------------------------------------------------------------------


def test_it_marks_vehicles_unavailable_and_available(manager_web, vehicle_a, vehicle_b):
    changelist = _url(Vehicle, "changelist")
    response = manager_web.post(
        changelist, {"action": "mark_unavailable", "_selected_action": [vehicle_a.pk, vehicle_b.pk]}, follow=True
    )
    assert "2 vehicles marked unavailable." in _messages(response)
    assert not Vehicle.objects.filter(available=True).exists()
    manager_web.post(changelist, {"action": "mark_available", "_selected_action": [vehicle_a.pk]})
    assert list(Vehicle.objects.filter(available=True)) == [vehicle_a]


def test_it_revokes_tracking_links(manager_web, depot_a):
    order = _order(depot_a, "ORD-1")
    (link,) = tracking_links_create(orders=[order])
    response = manager_web.post(
        _url(TrackingLink, "changelist"), {"action": "revoke", "_selected_action": [link.pk]}, follow=True
    )
    assert "1 tracking link revoked." in _messages(response)
    link.refresh_from_db()
    assert link.revoked_at is not None
    first_revocation = link.revoked_at
    manager_web.post(_url(TrackingLink, "changelist"), {"action": "revoke", "_selected_action": [link.pk]})
    link.refresh_from_db()
    assert link.revoked_at == first_revocation


def test_it_never_shows_a_tracking_links_nonce_or_digest(manager_web, depot_a):
    order = _order(depot_a, "ORD-1")
    (link,) = tracking_links_create(orders=[order])
    page = manager_web.get(_url(TrackingLink, "change", link.pk)).content.decode()
    assert link.digest not in page
    assert bytes(link.nonce).hex() not in page
    assert "nonce" not in page.lower()


# --- Query counts --------------------------------------------------------------------------------


def _changelist_queries(client, model) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(_url(model, "changelist")).status_code == 200
    return len(queries)


def _add_orders(depot, zone, start: int, count: int) -> None:
    day = timezone.localdate()
    customers = Customer.objects.bulk_create([Customer(name=f"C{start + i}") for i in range(count)])
    orders = Order.objects.bulk_create(
        Order(
            reference=f"BULK-{start + i}",
            date=day + timedelta(days=i % 5),
            depot=depot,
            zone=zone,
            customer=customers[i],
            customer_name=f"C{start + i}",
            lat=47.14,
            lon=9.52,
        )
        for i in range(count)
    )
    tracking_links_create(orders=orders)


@pytest.mark.parametrize("model", [Order, Customer, TrackingLink, OrderStatusChange, Zone, Vehicle, Driver, Depot])
def test_it_keeps_changelist_queries_flat_as_orders_grow(manager_web, company, model):
    depot, zone = company[Depot], company[Zone]
    _add_orders(depot, zone, 0, 3)
    few = _changelist_queries(manager_web, model)
    _add_orders(depot, zone, 100, 60)
    for order in Order.objects.filter(reference__startswith="BULK-")[:40]:
        order_change_status(order=order, to_status=S.PLANNED)
    many = _changelist_queries(manager_web, model)
    assert many == few, f"{model.__name__}: {few} queries with few orders, {many} with many"


def test_it_keeps_the_order_change_page_queries_flat_as_history_grows(manager_web, company):
    order = company[Order]
    url = _url(Order, "change", order.pk)
    with CaptureQueriesContext(connection) as short_history:
        manager_web.get(url)
    for to_status in (S.NEW, S.PLANNED, S.DISPATCHED, S.PLANNED, S.DISPATCHED):
        order_change_status(order=order, to_status=to_status, by=get_user_model().objects.get(username="manager"))
    with CaptureQueriesContext(connection) as long_history:
        manager_web.get(url)
    assert len(long_history) == len(short_history)
