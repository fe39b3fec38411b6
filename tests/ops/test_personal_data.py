"""A customer's personal data: export, erasure (nothing left behind, KPIs kept, idempotent), retention."""

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models

from analytics.services import order_facts_refresh
from customers.models import CustomerMessage, Feedback, Notification
from customers.personal_data.services import personal_data_erase, personal_data_expire
from customers.tracking_links import tracking_link_ensure
from customers.tracking_tokens import token_for_nonce
from dispatch.models import Alert, AuditEntry, Customer, Order, OrderStatusChange, ProofOfDelivery

KIM = {
    "name": "Kim Muster-Vogt",
    "email": "kim.muster@example.com",
    "phone": "+41 79 555 12 34",
    "address": "Hintergasse 17, 9490 Vaduz",
    "notes": "Ring twice, dog named Bellorex",
}
# Every trace of Kim that must be gone after erasure (looked for in every text field of every table).
NEEDLES = ["Muster", "kim.muster", "555 12 34", "795551234", "Hintergasse", "Bellorex", "Ospeltina", "Kim M. Vogt"]
BYSTANDER = {
    "name": "Alex Bystander",
    "email": "alex@example.com",
    "phone": "+41 78 000 11 22",
    "address": "Äulestrasse 5",
}
PHOTO = b"\xff\xd8 the parcel at Kim's door \xff\xd9"
ZONE = ZoneInfo(settings.TIME_ZONE)


def _order(depot, person: dict, reference: str, *, day: date, status: str, customer=None) -> Order:
    return Order.objects.create(
        reference=reference, date=day, depot=depot, customer=customer, customer_name=person["name"],
        phone=person["phone"], email=person["email"], address=person["address"], notes=person.get("notes", ""),
        lat=47.141234, lon=9.521234, status=status,
        window_start=datetime.combine(day, time(10), ZONE), window_end=datetime.combine(day, time(12), ZONE),
    )  # fmt: skip


def _everything_about(order: Order, person: dict) -> None:
    """What the platform holds about a delivered order: history, proof, messages, feedback, link."""
    arrived = datetime.combine(order.date, time(11), ZONE)
    OrderStatusChange.objects.create(
        order=order, from_status="en_route", to_status="arrived", changed_at=arrived, lat=47.141234, lon=9.521234,
        note=f"{person['name']} asked to use the back door",
    )  # fmt: skip
    OrderStatusChange.objects.create(
        order=order, from_status="arrived", to_status="delivered", changed_at=arrived + timedelta(minutes=3)
    )
    proof = ProofOfDelivery(
        order=order, recipient_name="Kim M. Vogt" if person is KIM else person["name"], note="left with Ospeltina" if person is KIM else "left in the garage",
        delivered_at=arrived + timedelta(minutes=3), lat=47.141234, lon=9.521234,
    )  # fmt: skip
    proof.photo.save("door.jpg", ContentFile(PHOTO), save=False)
    proof.save()
    Notification.objects.create(
        order=order, event="delivered", channel="email", language="en", recipient=person["email"],
        subject=f"Delivered to {person['address']}", body=f"Hello {person['name']}, your parcel is there.",
        status="sent", status_reason=f"accepted for {person['email']}",
    )  # fmt: skip
    Notification.objects.create(
        order=order, event="scheduled", channel="sms", language="en", recipient=person["phone"],
        body=f"Hello {person['name']}", status="sent",
    )  # fmt: skip
    neighbour = "Ospeltina" if person is KIM else "next door"
    CustomerMessage.objects.create(order=order, direction="in", text=f"Please leave it with neighbour {neighbour}")
    Feedback.objects.create(
        order=order,
        rating=4,
        comment=f"Great, thanks from {person['name']}" + (" (Bellorex says hi)" if person is KIM else ""),
    )
    Alert.objects.create(
        depot=order.depot, kind="failed", message=f"{person['name']} at {person['address']} not home",
        order=order, dedup_key=f"failed:{order.pk}", data={"address": person["address"]},
    )  # fmt: skip
    tracking_link_ensure(order=order)


@pytest.fixture
def kim(depot_a):
    customer = Customer.objects.create(name=KIM["name"], email=KIM["email"], phone=KIM["phone"])
    day = date(2026, 6, 2)
    orders = [
        _order(depot_a, KIM, f"K{i}", day=day + timedelta(days=i), status="delivered", customer=customer)
        for i in range(2)
    ]
    # A second order with the number written another way, and no customer record.
    other = dict(KIM, phone="0041795551234", email="")
    orders.append(_order(depot_a, other, "K-phone", day=day, status="failed"))
    for order in orders:
        _everything_about(order, KIM)
    bystander = _order(depot_a, BYSTANDER, "B1", day=day, status="delivered")
    _everything_about(bystander, BYSTANDER)
    order_facts_refresh(date_from=day - timedelta(days=1), date_to=day + timedelta(days=3))
    return {"customer": customer, "orders": orders, "bystander": bystander, "day": day}


def _texts_everywhere():
    """(table, field, text) for every text, e-mail, file and JSON field of every row of every model."""
    for model in apps.get_models():
        fields = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, (models.CharField, models.TextField, models.JSONField, models.FileField))
        ]
        if not fields:
            continue
        for row in model.objects.values_list(*fields):
            for name, value in zip(fields, row, strict=True):
                if value not in (None, "", {}, []):
                    yield model._meta.db_table, name, str(value)


def _traces(needles) -> list[tuple]:
    found = []
    for table, name, text in _texts_everywhere():
        digits = re.sub(r"\D", "", text)
        for needle in needles:
            if needle.lower() in text.lower() or (needle.isdigit() and needle in digits):
                found.append((table, name, needle))
    return found


def _kpis(client, day):
    response = client.get(f"/api/analytics/kpis/?from={day - timedelta(days=1)}&to={day + timedelta(days=3)}")
    assert response.status_code == 200, response.json()
    return response.json()


def _snapshot():
    return {
        model._meta.label: sorted(map(repr, model.objects.values_list()))
        for model in apps.get_models()
        if model is not AuditEntry and model._meta.app_label in ("dispatch", "routes", "customers", "analytics")
    }


def test_erasure_leaves_no_personal_field_behind_in_any_table(kim, manager_client):
    assert len(_traces(NEEDLES)) > 20  # the walk finds them while they are there
    photos = [p.photo.name for p in ProofOfDelivery.objects.filter(order__in=kim["orders"])]
    response = manager_client.post("/api/personal-data/erase/", {"email": KIM["email"], "confirm": True}, format="json")
    assert response.status_code == 200, response.json()
    assert sorted(response.json()["orders_erased"]) == sorted(o.pk for o in kim["orders"][:2])
    # The order that carries only the phone number is found by phone.
    response = manager_client.post(
        "/api/personal-data/erase/", {"phone": "079 555 12 34".replace("0", "+41 ", 1), "confirm": True}, format="json"
    )
    assert response.json()["orders_erased"] == [kim["orders"][2].pk]
    assert _traces(NEEDLES) == []
    assert not any(default_storage.exists(name) for name in photos)
    # The bystander, delivered the same day, keeps everything.
    assert {n for _t, _f, n in _traces(["Bystander", "alex@example.com", "Äulestrasse"])} == {
        "Bystander",
        "alex@example.com",
        "Äulestrasse",
    }
    entries = AuditEntry.objects.filter(action="personal_data.erased")
    assert entries.count() == 2 and all(e.actor_name == "manager" for e in entries)


def test_erasure_keeps_the_kpis_identical(kim, manager_client):
    before = _kpis(manager_client, kim["day"])
    personal_data_erase(email=KIM["email"], phone=KIM["phone"], by=None)
    order_facts_refresh(date_from=kim["day"] - timedelta(days=1), date_to=kim["day"] + timedelta(days=3))
    after = _kpis(manager_client, kim["day"])
    assert after == before
    assert Feedback.objects.filter(order__in=kim["orders"], rating=4).count() == 3
    assert Notification.objects.filter(order__in=kim["orders"], status="sent").count() == 6


def test_erasure_is_idempotent(kim):
    first = personal_data_erase(email=KIM["email"], phone=KIM["phone"], by=None)
    assert len(first.orders_erased) == 3 and first.customers_erased == [kim["customer"].pk]
    state = _snapshot()
    again = personal_data_erase(email=KIM["email"], phone=KIM["phone"], by=None)
    assert again.orders_erased == [] and again.customers_erased == []
    assert _snapshot() == state


def test_tracking_links_of_erased_orders_answer_404(kim, client):
    order = kim["orders"][0]
    token = token_for_nonce(bytes(order.tracking_links.get().nonce))
    assert client.get(f"/t/{token}/").status_code == 200
    personal_data_erase(email=KIM["email"], by=None)
    assert client.get(f"/t/{token}/").status_code == 404
    assert client.get(f"/api/track/{token}/").status_code == 404


def test_orders_still_on_their_way_are_kept_until_completed(kim, depot_a):
    open_order = _order(
        depot_a, KIM, "K-open", day=kim["day"] + timedelta(days=5), status="dispatched", customer=kim["customer"]
    )
    result = personal_data_erase(email=KIM["email"], by=None)
    assert result.orders_kept_open == ["K-open"] and open_order.pk not in result.orders_erased
    assert result.customers_erased == []  # still needed for the open order
    open_order.refresh_from_db()
    assert open_order.address == KIM["address"]


def test_the_export_holds_everything_about_the_person_and_nothing_about_others(kim, manager_client):
    response = manager_client.post("/api/personal-data/export/", {"email": KIM["email"].upper()}, format="json")
    assert response.status_code == 200
    export = response.json()
    assert [c["email"] for c in export["customers"]] == [KIM["email"]]
    assert sorted(o["order"]["reference"] for o in export["orders"]) == ["K0", "K1"]
    first = export["orders"][0]
    for model in ("dispatch.orderstatuschange", "dispatch.proofofdelivery", "customers.notification",
                  "customers.customermessage", "customers.feedback", "customers.trackinglink", "dispatch.alert"):  # fmt: skip
        assert first.get(model), model
    assert "nonce" not in first["customers.trackinglink"][0]
    import base64

    assert base64.b64decode(first["dispatch.proofofdelivery"][0]["photo_file"]["base64"]) == PHOTO
    assert "Bystander" not in response.content.decode()
    assert AuditEntry.objects.filter(action="personal_data.exported", actor_name="manager").count() == 1
    by_phone = manager_client.post("/api/personal-data/export/", {"phone": "0041 79 555 12 34"}, format="json").json()
    assert sorted(o["order"]["reference"] for o in by_phone["orders"]) == ["K-phone", "K0", "K1"]


@pytest.mark.parametrize("path", ["/api/personal-data/export/", "/api/personal-data/erase/"])
def test_only_managers_may_export_or_erase(kim, path, anonymous_client, dispatcher_a_client, driver_client):
    body = {"email": KIM["email"], "confirm": True}
    assert anonymous_client.post(path, body, format="json").status_code == 401
    assert dispatcher_a_client.post(path, body, format="json").status_code == 403
    assert driver_client.post(path, body, format="json").status_code == 403
    assert Order.objects.get(reference="K0").address == KIM["address"]


def test_erasure_needs_a_confirmation_and_someone_to_look_for(manager_client):
    response = manager_client.post("/api/personal-data/erase/", {"email": KIM["email"]}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "confirm"
    response = manager_client.post("/api/personal-data/export/", {}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "email"


def test_the_admin_page_exports_and_erases(kim, client, manager, dispatcher_a):
    client.force_login(dispatcher_a)
    assert client.get("/admin/personal-data/").status_code in (302, 403)
    client.force_login(manager)
    assert client.get("/admin/personal-data/?email=x@example.com").status_code == 200
    export = client.post("/admin/personal-data/", {"email": KIM["email"], "export": "1"})
    assert export.status_code == 200 and export["Content-Disposition"].startswith("attachment")
    refused = client.post("/admin/personal-data/", {"email": KIM["email"], "erase": "1"})
    assert refused.status_code == 200 and Order.objects.get(reference="K0").address == KIM["address"]
    erased = client.post("/admin/personal-data/", {"email": KIM["email"], "erase": "1", "confirm": "on"})
    assert erased.status_code == 302 and Order.objects.get(reference="K0").address == ""


# --- retention ---------------------------------------------------------------------------------


@pytest.mark.clock
@pytest.mark.parametrize(
    "moment", [datetime(2027, 3, 28, 1, 40), datetime(2027, 10, 31, 2, 30, fold=0)], ids=["spring-forward", "fall-back"]
)
def test_retention_erases_completed_orders_past_the_period_on_a_dst_day(depot_a, settings, moment):
    settings.PERSONAL_DATA_RETENTION_DAYS = 180
    now = moment.replace(tzinfo=ZONE)
    today = now.date()
    past = _order(depot_a, KIM, "old", day=today - timedelta(days=181), status="delivered")
    boundary = _order(depot_a, KIM, "boundary", day=today - timedelta(days=180), status="delivered")
    open_ = _order(depot_a, KIM, "old-open", day=today - timedelta(days=200), status="dispatched")
    _everything_about(past, KIM)
    with time_machine.travel(now, tick=False):
        from customers.personal_data.tasks import personal_data_expire as nightly

        assert nightly.apply().get() == 1
        assert personal_data_expire() == 0  # the second night finds nothing left to do
    past.refresh_from_db()
    boundary.refresh_from_db()
    open_.refresh_from_db()
    assert past.customer_name == past.address == past.email == ""
    assert not past.tracking_links.exists() and not past.proofs.get().photo
    assert boundary.address == KIM["address"] and open_.address == KIM["address"]
    entry = AuditEntry.objects.get(action="personal_data.expired")
    assert entry.actor_kind == "system" and entry.changes["orders"] == [past.pk]


def test_retention_is_in_the_nightly_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["personal-data-retention"]
    assert entry["task"] == "customers.tasks.personal_data_expire"
    assert settings.PERSONAL_DATA_RETENTION_DAYS == 180
