"""The audit log: who did what and when, append-only, readable and exportable by managers only."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from dispatch.audit import REDACTED, audit_record
from dispatch.models import AuditEntry, Order, Vehicle
from dispatch.orders.services import order_change_status
from tests.routes.test_plans import request_plan

CLOSURE = {"type": "LineString", "coordinates": [[9.5209, 47.1410], [9.5215, 47.1418]]}


@pytest.fixture
def manager_web(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def superuser_web(db):
    from django.test import Client

    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-2026")
    web = Client()
    web.force_login(user)
    return web


@pytest.fixture
def entry(manager):
    return audit_record(
        actor=manager, action="vehicle.changed", target="dispatch.vehicle:1", changes={"capacity_kg": [800, 900]}
    )


def test_the_admin_shows_it_to_managers_read_only(manager_web, superuser_web, entry):
    changelist = reverse("admin:dispatch_auditentry_changelist")
    change = reverse("admin:dispatch_auditentry_change", args=[entry.pk])
    for web in (manager_web, superuser_web):
        assert web.get(changelist).status_code == 200
        page = web.get(change)
        assert page.status_code == 200 and b'name="_save"' not in page.content
        assert web.get(reverse("admin:dispatch_auditentry_add")).status_code == 403
        assert web.post(change, {"action": "tampered"}).status_code == 403
        assert web.get(reverse("admin:dispatch_auditentry_delete", args=[entry.pk])).status_code == 403
        assert (
            web.post(reverse("admin:dispatch_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
        )
        bulk = web.post(changelist, {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})
        assert bulk.status_code in (200, 302)
    entry.refresh_from_db()
    assert entry.action == "vehicle.changed" and AuditEntry.objects.count() == 1


def test_dispatchers_do_not_see_it(client, dispatcher_a, entry):
    client.force_login(dispatcher_a)
    response = client.get(reverse("admin:dispatch_auditentry_changelist"))
    assert response.status_code in (302, 403)
    assert client.get(reverse("admin:dispatch_auditentry_export")).status_code in (302, 403)


def test_it_filters_and_exports_csv(manager_web, manager, entry):
    audit_record(actor=None, action="plan.proposal_expired", target="routes.plan:7")
    filtered = manager_web.get(reverse("admin:dispatch_auditentry_changelist") + "?actor_kind__exact=system")
    assert [e.action for e in filtered.context["cl"].result_list] == ["plan.proposal_expired"]
    response = manager_web.get(reverse("admin:dispatch_auditentry_export") + "?actor_kind__exact=user")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["actor_name"], r["action"]) for r in rows] == [("manager", "vehicle.changed")]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the database's own guard is PostgreSQL's")
def test_the_database_refuses_to_change_or_delete_an_entry(entry):
    for statement in ("UPDATE dispatch_auditentry SET action = 'x'", "DELETE FROM dispatch_auditentry"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert AuditEntry.objects.get().action == "vehicle.changed"


def test_admin_saves_are_recorded_with_personal_values_left_out(manager_web, manager, vehicle_a, depot_a):
    url = reverse("admin:dispatch_vehicle_change", args=[vehicle_a.pk])
    form = manager_web.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and not isinstance(value, list)}
    data.update({"depot": depot_a.pk, "capacity_kg": "900.0", "allowed_zones": [], "skills": '["fridge"]'})
    response = manager_web.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    entry = AuditEntry.objects.get(action="vehicle.changed")
    assert entry.actor_name == "manager" and entry.target_id == str(vehicle_a.pk)
    assert [float(v) for v in entry.changes["capacity_kg"]] == [800.0, 900.0]
    order = Order.objects.create(
        reference="P1", date="2030-01-02", depot=depot_a, lat=47.1, lon=9.5, customer_name="Kim Secret"
    )
    recorded = audit_record(
        actor=manager, action="order.changed", target=order, changes={"customer_name": ["Kim Secret", "Kim S."]}
    )
    assert recorded.changes == {"customer_name": REDACTED} and "Kim" not in recorded.target_repr


def test_services_record_orders_closures_and_plans(dispatcher_a_client, dispatcher_a, day_of_orders):
    response = dispatcher_a_client.post("/api/closures/", {"geometry": CLOSURE, "reason": "Roadworks"}, format="json")
    assert response.status_code == 201, response.json()
    dispatcher_a_client.delete(f"/api/closures/{response.json()['id']}/")
    Vehicle.objects.filter(drivers__isnull=True).update(available=False)
    plan_id = request_plan(dispatcher_a_client)["id"]
    assert dispatcher_a_client.post(f"/api/plans/{plan_id}/dispatch/").status_code == 200
    order = Order.objects.filter(status="dispatched").first()
    order_change_status(order=order, to_status="cancelled", by=dispatcher_a, reason="customer called")
    actions = list(AuditEntry.objects.order_by("id").values_list("action", "actor_name"))
    assert ("orders.imported", "disp_a") in actions
    assert ("closure.created", "disp_a") in actions and ("closure.lifted", "disp_a") in actions
    assert ("plan.requested", "disp_a") in actions and ("plan.dispatched", "disp_a") in actions
    assert ("orders.status_changed", "disp_a") in actions  # the plan's orders, one entry
    assert ("order.status_changed", "disp_a") in actions
    cancelled = AuditEntry.objects.get(action="order.status_changed", target_id=str(order.pk))
    assert cancelled.changes == {"status": ["dispatched", "cancelled"], "reason": "customer called"}


def test_vehicles_made_through_the_api_and_taken_out_in_the_admin_are_recorded(
    dispatcher_a_client, dispatcher_a, manager_web, manager, vehicle_a
):
    created = dispatcher_a_client.post(
        "/api/vehicles/", {"name": "A-Van-9", "depot": "A", "kind": "van", "capacity_kg": "500"}, format="json"
    )
    assert created.status_code == 201, created.json()
    entry = AuditEntry.objects.get(action="vehicle.created")
    assert entry.actor_name == dispatcher_a.username and entry.target_id == str(created.json()["id"])
    changelist = reverse("admin:dispatch_vehicle_changelist")
    for action, available in (("mark_unavailable", False), ("mark_available", True)):
        response = manager_web.post(changelist, {"action": action, "_selected_action": [vehicle_a.pk]})
        assert response.status_code == 302
        vehicle_a.refresh_from_db()
        assert vehicle_a.available is available
    changes = list(
        AuditEntry.objects.filter(action="vehicle.availability_changed", target_id=str(vehicle_a.pk))
        .order_by("id")
        .values_list("actor_name", "changes")
    )
    assert changes == [("manager", {"available": [True, False]}), ("manager", {"available": [False, True]})]
