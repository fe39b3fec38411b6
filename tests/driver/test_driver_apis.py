"""The driver app's API (API.md: Drivers): today's route, arrive / deliver / fail, proof, idempotency."""

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from dispatch.models import IdempotencyRecord, Order, OrderStatusChange, ProofOfDelivery
from routes.plans.services import plan_dispatch
from tests.driver.conftest import JPEG_BYTES, PNG_BYTES, write_plan

PNG_DATA_URL = "data:image/png;base64," + base64.b64encode(PNG_BYTES).decode()
ROUTE = "/api/driver/route/"


def action_url(stop, action):
    return f"/api/driver/stops/{stop.id}/{action}/"


def history(order_id):
    return list(OrderStatusChange.objects.filter(order_id=order_id).values_list("from_status", "to_status"))


# --- Personas -------------------------------------------------------------------------------------


def test_it_refuses_the_route_to_anonymous_visitors(anonymous_client, dispatched_route):
    assert anonymous_client.get(ROUTE).status_code == 401
    assert anonymous_client.post(action_url(dispatched_route.stops[0], "arrive")).status_code == 401


@pytest.mark.parametrize("persona", ["dispatcher_a_client", "manager_client"])
def test_it_refuses_the_route_to_office_staff(request, persona, dispatched_route):
    client = request.getfixturevalue(persona)
    assert client.get(ROUTE).status_code == 403
    assert client.post(action_url(dispatched_route.stops[0], "arrive")).status_code == 403
    assert Order.objects.get(pk=dispatched_route.stops[0].order_id).status == "dispatched"


def test_it_answers_another_drivers_stop_as_not_found(driver_client, dispatched_route):
    other = dispatched_route.other_stop
    for action, body in (("arrive", {}), ("deliver", {"recipient_name": "X"}), ("fail", {"reason": "not_home"})):
        response = driver_client.post(action_url(other, action), body)
        assert response.status_code == 404, response.json()
    assert Order.objects.get(pk=other.order_id).status == "dispatched"


def test_it_answers_an_unknown_stop_as_not_found(driver_client, dispatched_route):
    assert driver_client.post("/api/driver/stops/999999/arrive/").status_code == 404


# --- Route ----------------------------------------------------------------------------------------


def test_it_gives_the_driver_todays_route_with_stops_in_order(driver_client, dispatched_route):
    response = driver_client.get(ROUTE)
    assert response.status_code == 200
    route = response.json()["route"]
    assert route["plan"] == dispatched_route.plan.id and route["version"] == 1
    assert route["id"] == dispatched_route.route.id and route["vehicle_name"] == "A-Van-1"
    assert route["geometry"]["type"] == "LineString" and route["breaks"][0]["duration_s"] == 1800
    assert route["start"] and route["end"]
    stops = route["stops"]
    assert [s["id"] for s in stops] == [s.id for s in dispatched_route.stops]
    assert [s["sequence"] for s in stops] == [1, 2, 3]
    first = stops[0]
    expected = {
        "id", "order", "reference", "sequence", "status", "customer_name", "phone", "address", "lat", "lon",
        "window_start", "window_end", "eta", "live_eta", "etd", "notes", "skills", "items", "weight",
    }  # fmt: skip
    assert expected <= set(first)
    assert first["status"] == "dispatched" and first["reference"] == "D0" and first["notes"] == "Ring twice"
    assert stops[1]["skills"] == ["fridge"] and stops[1]["items"] == 2 and stops[1]["weight"] == 3.0


def test_it_answers_null_while_nothing_is_dispatched(driver_client, todays_orders):
    response = driver_client.get(ROUTE)
    assert response.status_code == 200 and response.json() == {"route": None}


def test_it_follows_the_newest_dispatched_version(driver_client, dispatched_route, vehicle_a, driver_a, dispatcher_a):
    orders = [s.order for s in dispatched_route.stops]
    undispatched = write_plan(
        day=timezone.localdate(), depot=dispatched_route.plan.depot, version=3,
        routes={(vehicle_a, driver_a): orders[:1]},
    )  # fmt: skip
    revision = write_plan(
        day=timezone.localdate(), depot=dispatched_route.plan.depot, version=2, parent=dispatched_route.plan,
        routes={(vehicle_a, driver_a): list(reversed(orders))},
    )  # fmt: skip
    assert driver_client.get(ROUTE).json()["route"]["version"] == 1
    plan_dispatch(plan=revision, by=dispatcher_a)
    route = driver_client.get(ROUTE).json()["route"]
    assert route["version"] == 2 and route["plan"] == revision.id != undispatched.id
    assert [s["reference"] for s in route["stops"]] == ["D2", "D1", "D0"]


def test_it_accepts_an_action_queued_against_the_previous_version(
    driver_client, dispatched_route, vehicle_a, driver_a, dispatcher_a
):
    orders = [s.order for s in dispatched_route.stops]
    revision = write_plan(
        day=timezone.localdate(), depot=dispatched_route.plan.depot, version=2, parent=dispatched_route.plan,
        routes={(vehicle_a, driver_a): list(reversed(orders))},
    )  # fmt: skip
    plan_dispatch(plan=revision, by=dispatcher_a)
    old_stop = dispatched_route.stops[0]
    response = driver_client.post(action_url(old_stop, "arrive"))
    assert response.status_code == 200
    assert response.json()["stop"]["order"] == old_stop.order_id and response.json()["stop"]["sequence"] == 3


def test_it_reads_the_route_in_a_fixed_number_of_queries(
    driver_client, dispatched_route, django_assert_max_num_queries
):
    # token, groups, driver, plan lookup and route check, route, stops with their orders
    with django_assert_max_num_queries(10):
        assert len(driver_client.get(ROUTE).json()["route"]["stops"]) == 3


def test_it_gives_a_route_planned_for_the_drivers_vehicle(driver_client, dispatched_route):
    dispatched_route.route.driver = None
    dispatched_route.route.save(update_fields=["driver"])
    assert driver_client.get(ROUTE).json()["route"]["id"] == dispatched_route.route.id


# --- Transitions ----------------------------------------------------------------------------------


def test_it_marks_arrived_then_delivered_with_the_position(driver_client, dispatched_route, driver_a):
    stop = dispatched_route.stops[0]
    arrived = driver_client.post(action_url(stop, "arrive"), {"lat": 47.14, "lon": 9.52})
    assert arrived.status_code == 200 and arrived.json()["stop"]["status"] == "arrived"
    delivered = driver_client.post(action_url(stop, "deliver"), {"recipient_name": "Anna", "note": "at the door"})
    assert delivered.status_code == 200 and delivered.json()["stop"]["status"] == "delivered"
    assert history(stop.order_id)[-2:] == [("dispatched", "arrived"), ("arrived", "delivered")]
    change = OrderStatusChange.objects.filter(order_id=stop.order_id, to_status="arrived").get()
    assert (change.lat, change.lon, change.changed_by_id) == (47.14, 9.52, driver_a.user_id)
    proof = ProofOfDelivery.objects.get(order_id=stop.order_id)
    assert proof.recipient_name == "Anna" and proof.note == "at the door" and proof.driver == driver_a
    assert not proof.photo and not proof.signature


def test_it_passes_through_arrived_when_delivering_from_en_route(driver_client, dispatched_route):
    from dispatch.orders.services import order_change_status

    stop = dispatched_route.stops[1]
    order_change_status(order=Order.objects.get(pk=stop.order_id), to_status="en_route")
    response = driver_client.post(action_url(stop, "deliver"), {"recipient_name": "Ben"})
    assert response.status_code == 200
    assert history(stop.order_id)[-3:] == [
        ("dispatched", "en_route"),
        ("en_route", "arrived"),
        ("arrived", "delivered"),
    ]


def test_it_passes_through_arrived_when_delivering_from_dispatched(driver_client, dispatched_route):
    stop = dispatched_route.stops[0]
    assert driver_client.post(action_url(stop, "deliver"), {"recipient_name": "Ben"}).status_code == 200
    assert history(stop.order_id)[-2:] == [("dispatched", "arrived"), ("arrived", "delivered")]


def test_it_stores_a_photo_upload_and_a_signature_data_url(driver_client, dispatched_route):
    stop = dispatched_route.stops[0]
    photo = SimpleUploadedFile("door.jpg", JPEG_BYTES, content_type="image/jpeg")
    response = driver_client.post(
        action_url(stop, "deliver"), {"photo": photo, "signature": PNG_DATA_URL, "lat": "47.1", "lon": "9.5"},
        format="multipart",
    )  # fmt: skip
    assert response.status_code == 200, response.json()
    proof = ProofOfDelivery.objects.get(order_id=stop.order_id)
    assert proof.photo.name.endswith(".jpg") and proof.photo.read().startswith(b"\xff\xd8\xff")
    assert proof.signature.name.endswith(".png") and proof.signature.read() == PNG_BYTES
    assert (proof.lat, proof.lon) == (47.1, 9.5)


def test_it_accepts_the_photo_as_a_data_url_in_json(driver_client, dispatched_route):
    stop = dispatched_route.stops[0]
    photo = "data:image/jpeg;base64," + base64.b64encode(JPEG_BYTES).decode()
    assert driver_client.post(action_url(stop, "deliver"), {"photo": photo}).status_code == 200
    assert ProofOfDelivery.objects.get(order_id=stop.order_id).photo.name.endswith(".jpg")


def test_it_requires_some_proof_to_deliver(driver_client, dispatched_route):
    stop = dispatched_route.stops[0]
    response = driver_client.post(action_url(stop, "deliver"), {"note": "left it"})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "recipient_name"
    assert Order.objects.get(pk=stop.order_id).status == "dispatched" and not ProofOfDelivery.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("photo", SimpleUploadedFile("x.jpg", b"GIF89a" + b"\x00" * 40, content_type="image/jpeg"), "PNG or JPEG"),
        ("photo", SimpleUploadedFile("x.png", b"<svg></svg>", content_type="image/png"), "PNG or JPEG"),
        ("signature", "data:image/png;base64,PHN2Zz48L3N2Zz4=", "PNG or JPEG"),
        ("signature", "data:image/png;base64,***", "base64"),
        ("signature", "not a data url", "data: URL"),
    ],
)
def test_it_refuses_what_is_not_an_image_naming_the_field(driver_client, dispatched_route, field, value, message):
    stop = dispatched_route.stops[0]
    response = driver_client.post(
        action_url(stop, "deliver"), {field: value, "recipient_name": "A"}, format="multipart"
    )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == field and message in error["message"]
    assert Order.objects.get(pk=stop.order_id).status == "dispatched" and not ProofOfDelivery.objects.exists()


def test_it_refuses_an_image_over_the_size_limit(driver_client, dispatched_route, monkeypatch):
    from dispatch.driver_app import services as driver_services

    monkeypatch.setattr(driver_services, "PROOF_IMAGE_MAX_BYTES", 1000)
    stop = dispatched_route.stops[0]
    big = SimpleUploadedFile("big.png", PNG_BYTES + b"\x00" * 2000, content_type="image/png")
    response = driver_client.post(action_url(stop, "deliver"), {"photo": big}, format="multipart")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "photo"
    assert "larger than" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("reason", ["not_home", "no_access", "refused", "damaged", "wrong_address"])
def test_it_fails_a_stop_with_each_reason(driver_client, dispatched_route, reason):
    stop = dispatched_route.stops[0]
    response = driver_client.post(action_url(stop, "fail"), {"reason": reason})
    assert response.status_code == 200 and response.json()["stop"]["status"] == "failed"
    change = OrderStatusChange.objects.filter(order_id=stop.order_id).last()
    assert (change.from_status, change.to_status, change.reason) == ("dispatched", "failed", reason)


def test_it_requires_a_note_when_the_reason_is_other(driver_client, dispatched_route):
    stop = dispatched_route.stops[0]
    refused = driver_client.post(action_url(stop, "fail"), {"reason": "other", "note": "  "})
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "note"
    accepted = driver_client.post(action_url(stop, "fail"), {"reason": "other", "note": "dog on the loose"})
    assert accepted.status_code == 200
    assert OrderStatusChange.objects.filter(order_id=stop.order_id).last().note == "dog on the loose"


def test_it_refuses_an_unknown_fail_reason(driver_client, dispatched_route):
    response = driver_client.post(action_url(dispatched_route.stops[0], "fail"), {"reason": "lazy"})
    assert response.status_code == 400 and response.json()["errors"][0] == {
        "field": "reason", "value": "lazy", "message": '"lazy" is not a valid choice.',
    }  # fmt: skip


def test_it_fails_a_stop_after_arriving(driver_client, dispatched_route):
    stop = dispatched_route.stops[0]
    driver_client.post(action_url(stop, "arrive"))
    assert driver_client.post(action_url(stop, "fail"), {"reason": "refused"}).status_code == 200
    assert history(stop.order_id)[-2:] == [("dispatched", "arrived"), ("arrived", "failed")]


def test_it_refuses_to_act_on_a_finished_stop(driver_client, dispatched_route):
    stop = dispatched_route.stops[0]
    assert driver_client.post(action_url(stop, "deliver"), {"recipient_name": "A"}).status_code == 200
    for action, body in (("arrive", {}), ("deliver", {"recipient_name": "B"}), ("fail", {"reason": "refused"})):
        response = driver_client.post(action_url(stop, action), body)
        assert response.status_code == 409, (action, response.json())
    assert ProofOfDelivery.objects.filter(order_id=stop.order_id).count() == 1


# --- Idempotency ----------------------------------------------------------------------------------


def test_it_replays_a_repeated_delivery_without_applying_it_twice(driver_client, dispatched_route):
    stop = dispatched_route.stops[0]
    body = {"recipient_name": "Anna", "signature": PNG_DATA_URL}
    first = driver_client.post(action_url(stop, "deliver"), body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = driver_client.post(action_url(stop, "deliver"), body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert history(stop.order_id)[-2:] == [("dispatched", "arrived"), ("arrived", "delivered")]
    assert OrderStatusChange.objects.filter(order_id=stop.order_id, to_status="delivered").count() == 1
    assert ProofOfDelivery.objects.filter(order_id=stop.order_id).count() == 1
    assert IdempotencyRecord.objects.get(key="k-1").status_code == 200


def test_it_replays_an_arrival_sent_twice(driver_client, dispatched_route):
    stop = dispatched_route.stops[0]
    first = driver_client.post(action_url(stop, "arrive"), HTTP_IDEMPOTENCY_KEY="a-1")
    again = driver_client.post(action_url(stop, "arrive"), HTTP_IDEMPOTENCY_KEY="a-1")
    assert (first.status_code, first.json()) == (again.status_code, again.json())
    assert OrderStatusChange.objects.filter(order_id=stop.order_id, to_status="arrived").count() == 1


def test_it_refuses_a_key_reused_for_another_path(driver_client, dispatched_route):
    first, second = dispatched_route.stops[:2]
    assert driver_client.post(action_url(first, "arrive"), HTTP_IDEMPOTENCY_KEY="same").status_code == 200
    response = driver_client.post(action_url(second, "arrive"), HTTP_IDEMPOTENCY_KEY="same")
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert Order.objects.get(pk=second.order_id).status == "dispatched"


def test_it_keeps_keys_per_user(driver_client, driver_b_client, dispatched_route):
    mine, theirs = dispatched_route.stops[0], dispatched_route.other_stop
    assert driver_client.post(action_url(mine, "arrive"), HTTP_IDEMPOTENCY_KEY="shared").status_code == 200
    assert driver_b_client.post(action_url(theirs, "arrive"), HTTP_IDEMPOTENCY_KEY="shared").status_code == 200
    assert Order.objects.get(pk=theirs.order_id).status == "arrived"


def test_it_does_not_store_an_error_answer(driver_client, dispatched_route):
    stop = dispatched_route.stops[0]
    refused = driver_client.post(action_url(stop, "deliver"), {}, HTTP_IDEMPOTENCY_KEY="k-2")
    assert refused.status_code == 400 and not IdempotencyRecord.objects.exists()
    fixed = driver_client.post(action_url(stop, "deliver"), {"recipient_name": "A"}, HTTP_IDEMPOTENCY_KEY="k-2")
    assert fixed.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_it_applies_a_delivery_once_when_two_copies_race(dispatched_route, driver_a):
    """The phone retried before the first answer came back: both copies arrive at once, one delivery results."""
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the in-memory SQLite test database refuses concurrent writers (table is locked)")

    from tests.conftest import _client_for

    stop = dispatched_route.stops[0]
    barrier = threading.Barrier(2)
    answers = []

    def send():
        client = _client_for(driver_a.user)
        barrier.wait()
        try:
            response = client.post(action_url(stop, "deliver"), {"recipient_name": "A"}, HTTP_IDEMPOTENCY_KEY="race")
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 2 and answers[0] == answers[1] and answers[0][0] == 200
    assert OrderStatusChange.objects.filter(order_id=stop.order_id, to_status="delivered").count() == 1
    assert ProofOfDelivery.objects.filter(order_id=stop.order_id).count() == 1
