"""Courier partners: managing them, a dispatcher's hand-off, the partner's API, and what the customer hears.

Personas: a manager, a dispatcher of depot A (and of depot B), a partner's login (Alpen Kurier) and
another partner's login (Berg Bote), who must never see Alpen's orders.
"""

import json
import threading
from datetime import datetime, time, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone

from customers.models import Notification
from customers.tracking_links import tracking_link_ensure
from customers.tracking_tokens import token_for_nonce
from dispatch.models import Alert, Handoff, Order, OrderStatusChange, ProofOfDelivery
from dispatch.partners import services
from dispatch.partners.webhooks import webhook_signature
from dispatch.roles import PARTNER
from routes.models import Plan, Stop, UnassignedOrder
from routes.plans.editing import plan_edit
from routes.plans.services import plan_dispatch
from tests.conftest import PASSWORD
from tests.driver.conftest import write_plan
from tests.partners.conftest import new_order
from tests.routes.conftest import demo_network_dir, road_network  # noqa: F401 - fixtures

pytestmark = pytest.mark.clock

S = Order.Status
H = Handoff.Status
PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.fixture
def hand_off(django_capture_on_commit_callbacks, dispatcher_a):
    """Hand an order over as the dispatcher's click does; the webhook task runs inline after commit."""

    def run(order, partner, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return services.order_hand_off(order=order, partner=partner, by=dispatcher_a, **kwargs)

    return run


def post(client, path, body=None, **extra):
    return client.post(path, body or {}, format="json", **extra)


# --- Managing partners ----------------------------------------------------------------------------


def test_it_lets_a_manager_add_a_partner_and_its_login(manager_client, dispatcher_a_client, zone_a):
    body = {
        "code": "tal", "name": "Tal Express", "zones": ["malbun"], "price_per_stop": "8.00", "price_per_kg": "0.1",
        "capacity_stops": 40, "capacity_kg": "300", "cutoff": "17:55", "skills": ["two_person"],
    }  # fmt: skip
    response = post(manager_client, "/api/partners/", body)
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["zones"] == ["malbun"] and created["cutoff"] == "17:55" and len(created["webhook_secret"]) == 64
    assert post(dispatcher_a_client, "/api/partners/", {**body, "code": "tal2"}).status_code == 403
    listed = dispatcher_a_client.get("/api/partners/").json()
    assert [p["code"] for p in listed] == ["tal"] and "webhook_secret" not in listed[0]

    response = post(manager_client, "/api/partners/tal/users/", {"username": "tal_1", "password": PASSWORD})
    assert response.status_code == 201 and response.json() == {"username": "tal_1", "partner": "tal"}
    assert (
        post(manager_client, "/api/partners/nope/users/", {"username": "x_1", "password": PASSWORD}).status_code == 404
    )
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="tal_1")
    assert list(user.groups.values_list("name", flat=True)) == [PARTNER]


def test_it_names_the_field_of_a_bad_partner(manager_client):
    body = {
        "code": "x",
        "name": "X",
        "zones": ["atlantis"],
        "price_per_stop": "1",
        "capacity_stops": 1,
        "cutoff": "07:00",
    }
    response = post(manager_client, "/api/partners/", body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "zones" and response.json()["errors"][0]["value"] == "atlantis"


# --- Handing an order over ------------------------------------------------------------------------


def test_it_hands_an_order_to_a_partner_at_its_price(dispatcher_a_client, partner, depot_a, tomorrow, zone_a):
    order = new_order(depot_a, "P-1", tomorrow, zone=zone_a, skills=["fridge"])
    response = post(dispatcher_a_client, f"/api/orders/{order.pk}/handoff/", {"partner": "alpen"})
    assert response.status_code == 201, response.content
    # 9.50 per stop + 0.20 × 5 kg + 2.50 for Malbun
    assert response.json()["cost"] == "13.00" and response.json()["status"] == "offered"
    order.refresh_from_db()
    assert order.status == S.DISPATCHED
    assert list(order.status_history.values_list("to_status", flat=True)) == ["planned", "dispatched"]
    # Handed twice: refused while the first stands.
    again = post(dispatcher_a_client, f"/api/orders/{order.pk}/handoff/", {"partner": "alpen"})
    assert again.status_code == 409


def test_it_refuses_a_partner_that_cannot_serve_the_order(
    dispatcher_a_client, partner, other_partner, depot_a, tomorrow
):
    outside = new_order(depot_a, "P-OUT", tomorrow, lat=46.5, lon=8.0)
    response = post(dispatcher_a_client, f"/api/orders/{outside.pk}/handoff/", {"partner": "berg"})
    assert response.status_code == 400 and "outside" in response.json()["detail"]
    skilled = new_order(depot_a, "P-SKILL", tomorrow, skills=["two_person"])
    response = post(dispatcher_a_client, f"/api/orders/{skilled.pk}/handoff/", {"partner": "berg"})
    assert response.status_code == 400 and "two_person" in response.json()["detail"]
    outside.refresh_from_db()
    assert outside.status == S.NEW and not Handoff.objects.exists()


def test_it_keeps_another_depots_order_from_a_dispatcher(dispatcher_b_client, dispatcher_a, partner, depot_a, tomorrow):
    order = new_order(depot_a, "P-A", tomorrow)
    assert post(dispatcher_b_client, f"/api/orders/{order.pk}/handoff/", {"partner": "alpen"}).status_code == 404


def test_it_takes_a_handed_order_off_our_dispatched_route(
    road_network,  # noqa: F811 - the fixture
    hand_off,
    partner,
    depot_a,
    vehicle_a,
    driver_a,
    dispatcher_a,
    dispatcher_a_client,
    zone_a,
):
    today = timezone.localdate()
    stays, goes = new_order(depot_a, "R-1", today, zone=zone_a), new_order(depot_a, "R-2", today, zone=zone_a)
    plan = write_plan(day=today, depot=depot_a, routes={(vehicle_a, driver_a): [stays, goes]})
    plan_dispatch(plan=plan, by=dispatcher_a)
    handoff = hand_off(goes, partner)
    newest = Plan.objects.filter(date=today).order_by("-version").first()
    assert newest.version == 2 and newest.dispatched_at is not None and handoff.plan_id == newest.pk
    assert list(Stop.objects.filter(route__plan=newest).values_list("order__reference", flat=True)) == ["R-1"]
    # API.md Plans: the plan says what it handed to whom, and at what cost.
    shown = dispatcher_a_client.get(f"/api/plans/{newest.pk}/").json()
    assert shown["handoffs"] == [{"partner": "alpen", "orders": [goes.pk], "cost": "13.00"}]
    # A later edit of the running version leaves the partner's order alone.
    newest = plan_edit(plan=newest, operations=[{"op": "lock", "vehicle": vehicle_a.pk}], by=dispatcher_a)
    assert newest.version == 3 and not UnassignedOrder.objects.filter(order=goes).exists()
    goes.refresh_from_db()
    assert goes.status == S.DISPATCHED and Handoff.objects.get(order=goes).status == H.OFFERED
    goes.refresh_from_db()
    stays.refresh_from_db()
    assert (goes.status, stays.status) == (S.DISPATCHED, S.DISPATCHED)
    # dispatched → planned → new (off the route), then new → planned → dispatched (to the partner)
    assert list(goes.status_history.values_list("to_status", flat=True)) == [
        "planned", "dispatched", "planned", "new", "planned", "dispatched",
    ]  # fmt: skip


# --- The partner's API ----------------------------------------------------------------------------


def test_it_shows_a_partner_only_its_own_orders(
    hand_off, partner, other_partner, partner_client, other_partner_client, depot_a, tomorrow
):
    mine = new_order(depot_a, "MINE", tomorrow)
    theirs = new_order(depot_a, "THEIRS", tomorrow)
    new_order(depot_a, "OURS", tomorrow)
    hand_off(mine, partner)
    hand_off(theirs, other_partner)
    assert [o["reference"] for o in partner_client.get("/api/partner/orders/").json()] == ["MINE"]
    assert [o["reference"] for o in partner_client.get(f"/api/partner/orders/?date={tomorrow}").json()] == ["MINE"]
    assert partner_client.get(f"/api/partner/orders/?date={tomorrow + timedelta(days=1)}").json() == []
    assert partner_client.get("/api/partner/orders/?date=tomorrow").status_code == 400
    for action, body in (
        ("accept", {}), ("reject", {"reason": "full"}), ("arrive", {}),
        ("deliver", {"recipient_name": "X"}), ("fail", {"reason": "refused"}),
    ):  # fmt: skip
        response = post(partner_client, f"/api/partner/orders/{theirs.pk}/{action}/", body)
        assert response.status_code == 404, (action, response.content)
    theirs.refresh_from_db()
    assert theirs.status == S.DISPATCHED and Handoff.objects.get(order=theirs).status == H.OFFERED
    # Office endpoints stay closed to a partner.
    assert partner_client.get("/api/orders/").status_code == 403
    assert partner_client.get("/api/driver/route/").status_code == 403


def test_it_tells_the_customer_of_a_partners_delivery_as_of_our_own(
    hand_off, partner, partner_client, depot_a, customer, client, django_capture_on_commit_callbacks
):
    today = timezone.localdate()
    order = new_order(depot_a, "CUST-1", today, customer=customer, email=customer.email, phone=customer.phone)
    hand_off(order, partner)
    accepted = post(partner_client, f"/api/partner/orders/{order.pk}/accept/")
    assert accepted.status_code == 200 and accepted.json()["order"]["handoff_status"] == "accepted"
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            partner_client, f"/api/partner/orders/{order.pk}/deliver/",
            {"recipient_name": "Erika", "signature": PNG, "note": "at the door"}, HTTP_IDEMPOTENCY_KEY="deliver-1",
        )  # fmt: skip
    assert response.status_code == 200, response.content
    assert (
        response.json()["order"]["status"] == "delivered" and response.json()["order"]["handoff_status"] == "delivered"
    )
    order.refresh_from_db()
    assert order.status == S.DELIVERED
    proof = ProofOfDelivery.objects.get(order=order)
    assert proof.recipient_name == "Erika" and proof.signature.name.endswith(".png") and proof.driver is None
    # The same "delivered" messages as for our own drivers (e-mail and SMS), in the customer's language.
    assert sorted(Notification.objects.filter(order=order, event="delivered").values_list("channel", flat=True)) == [
        "email", "sms",
    ]  # fmt: skip
    # The offline queue sends it again: the first answer, nothing done twice.
    replay = post(
        partner_client,
        f"/api/partner/orders/{order.pk}/deliver/",
        {"recipient_name": "Erika"},
        HTTP_IDEMPOTENCY_KEY="deliver-1",
    )
    assert replay.status_code == 200 and replay["Idempotent-Replayed"] == "true"
    assert ProofOfDelivery.objects.filter(order=order).count() == 1
    # The tracking page tells the same story as for our own drivers: delivered, with the proof.
    token = token_for_nonce(tracking_link_ensure(order=order).nonce)
    tracked = client.get(f"/api/track/{token}/")
    assert tracked.status_code == 200 and tracked.json()["status"] == "delivered"
    assert client.get(f"/t/{token}/").status_code == 200
    assert client.get(f"/t/{token}/proof/signature/").status_code == 200


def test_it_records_a_partners_failure_with_its_reason_and_time(hand_off, partner, partner_client, depot_a):
    today = timezone.localdate()
    order = new_order(depot_a, "FAIL-1", today)
    hand_off(order, partner)
    handed_at = OrderStatusChange.objects.filter(order=order).latest("changed_at").changed_at
    # Tapped at the door a moment after the hand-off, sent a little later.
    tapped = handed_at + timedelta(seconds=1)
    response = post(partner_client, f"/api/partner/orders/{order.pk}/arrive/", {"occurred_at": tapped.isoformat()})
    assert response.status_code == 200 and response.json()["order"]["status"] == "arrived"
    early = (tapped - timedelta(minutes=5)).isoformat()  # before it arrived
    refused = post(
        partner_client, f"/api/partner/orders/{order.pk}/fail/", {"reason": "not_home", "occurred_at": early}
    )
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "occurred_at"
    assert post(partner_client, f"/api/partner/orders/{order.pk}/fail/", {"reason": "other"}).status_code == 400
    response = post(partner_client, f"/api/partner/orders/{order.pk}/fail/", {"reason": "not_home"})
    assert response.status_code == 200 and response.json()["order"]["status"] == "failed"
    arrival = OrderStatusChange.objects.get(order=order, to_status="arrived")
    # The tap's time (never later than the server received it), not the time it was sent.
    assert handed_at <= arrival.changed_at <= tapped and arrival.reason == "partner"
    assert Handoff.objects.get(order=order).status == H.FAILED


# --- Back to planning: a rejection, a missed cut-off ----------------------------------------------


def test_it_returns_a_rejected_order_to_planning_with_an_alert(hand_off, partner, partner_client, depot_a, tomorrow):
    order = new_order(depot_a, "REJ-1", tomorrow)
    hand_off(order, partner)
    assert post(partner_client, f"/api/partner/orders/{order.pk}/reject/", {"reason": ""}).status_code == 400
    response = post(partner_client, f"/api/partner/orders/{order.pk}/reject/", {"reason": "no van free"})
    assert response.status_code == 200 and response.json()["order"]["status"] == "new"
    order.refresh_from_db()
    assert order.status == S.NEW
    alert = Alert.objects.get(order=order, resolved_at__isnull=True)
    assert alert.kind == Alert.Kind.HANDOFF_RETURNED and "no van free" in alert.message
    # No longer the partner's: as if it never was.
    assert post(partner_client, f"/api/partner/orders/{order.pk}/accept/").status_code == 404
    assert partner_client.get("/api/partner/orders/").json() == []
    # Handed again (to the same or another partner): the return alert is answered.
    hand_off(order, partner)
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def local_at(day, hh, mm=0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=ZoneInfo(settings.TIME_ZONE))


def test_it_returns_an_order_not_accepted_by_the_cutoff(hand_off, partner, partner_client, depot_a):
    day = timezone.localdate() + timedelta(days=2)
    order = new_order(depot_a, "CUT-1", day)
    handoff = hand_off(order, partner)
    # Alpen starts at 08:00 with a 07:00 cut-off: 07:00 on the delivery day itself.
    assert handoff.cutoff_at == local_at(day, 7)
    assert services.handoff_expire(handoff_id=handoff.pk, now=handoff.cutoff_at - timedelta(seconds=1)) is False
    assert services.handoffs_expire_due(now=handoff.cutoff_at + timedelta(minutes=1)) == 1
    order.refresh_from_db()
    handoff.refresh_from_db()
    assert (order.status, handoff.status) == (S.NEW, H.EXPIRED)
    assert Alert.objects.get(order=order).kind == Alert.Kind.HANDOFF_RETURNED
    # The scheduled run coming after the sweep changes nothing.
    assert services.handoff_expire(handoff_id=handoff.pk, now=handoff.cutoff_at + timedelta(minutes=2)) is False


def test_it_refuses_an_acceptance_after_the_cutoff(hand_off, other_partner, other_partner_client, depot_a, tomorrow):
    order = new_order(depot_a, "CUT-2", tomorrow)
    handoff = hand_off(order, other_partner)
    # Berg's 17:55 cut-off is the evening before; handed over later than that, it gets 30 minutes.
    expected = max(local_at(tomorrow - timedelta(days=1), 17, 55), handoff.offered_at + timedelta(minutes=30))
    assert handoff.cutoff_at == expected
    late = handoff.cutoff_at + timedelta(seconds=1)
    Handoff.objects.filter(pk=handoff.pk).update(cutoff_at=timezone.now() - timedelta(minutes=1))
    response = post(other_partner_client, f"/api/partner/orders/{order.pk}/accept/")
    assert response.status_code == 409 and "cut-off" in response.json()["detail"]
    assert late > handoff.cutoff_at


@pytest.mark.parametrize(
    ("cutoff", "day", "expected"),
    [
        # Before opening (08:00): the delivery day itself; at or after: the evening before.
        (time(7), "2027-03-28", ("2027-03-28", time(7), 2)),  # spring forward: already summer time (+02:00)
        (time(17, 55), "2027-03-28", ("2027-03-27", time(17, 55), 1)),  # the day before is still winter
        (time(23, 40), "2027-03-29", ("2027-03-28", time(23, 40), 2)),
        (time(23, 40), "2027-10-31", ("2027-10-30", time(23, 40), 2)),  # fall back: the evening before is summer
        (time(7), "2027-10-31", ("2027-10-31", time(7), 1)),
        (time(2, 30), "2027-03-28", ("2027-03-28", time(3, 30), 2)),  # 02:30 does not exist that night
    ],
)
def test_it_puts_the_cutoff_at_the_right_local_time_on_dst_days(partner, cutoff, day, expected):
    partner.cutoff = cutoff
    on_day, wall, offset_h = expected
    moment = services.handoff_cutoff_at(partner=partner, day=datetime.fromisoformat(day).date())
    assert moment == local_at(datetime.fromisoformat(on_day).date(), wall.hour, wall.minute)
    assert moment.utcoffset() == timedelta(hours=offset_h)


# --- The signed webhook ---------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list = []
    answers: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, dict(self.headers), body))
        status = type(self).answers.pop(0) if type(self).answers else 200
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received, _Receiver.answers = [], []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, _Receiver
    server.shutdown()
    server.server_close()


def test_it_retries_a_failing_webhook_with_the_same_key_until_it_is_taken(
    hand_off, partner, depot_a, tomorrow, receiver
):
    server, seen = receiver
    seen.answers = [503, 502]  # down twice, then it takes it
    partner.webhook_url = f"http://127.0.0.1:{server.server_port}/hooks/orders"
    partner.save()
    order = new_order(depot_a, "HOOK-1", tomorrow)
    handoff = hand_off(order, partner)
    assert len(seen.received) == 3
    keys = {headers["Idempotency-Key"] for _path, headers, _body in seen.received}
    assert keys == {handoff.webhook_key}
    path, headers, body = seen.received[-1]
    assert path == "/hooks/orders"
    expected = webhook_signature("alpen-secret-0123456789", headers["X-Dispatch-Timestamp"], body)
    assert headers["X-Dispatch-Signature"] == f"sha256={expected}"
    assert {b for _p, _h, b in seen.received} == {body}  # the same body on every attempt
    payload = json.loads(body)
    assert payload["event"] == "order.offered" and payload["order"]["reference"] == "HOOK-1"
    handoff.refresh_from_db()
    assert handoff.webhook_sent_at is not None and handoff.webhook_attempts == 3 and handoff.webhook_error == ""
    # Sent is sent: running the task again (a redelivered message) posts nothing.
    from dispatch.partners.tasks import send_handoff_webhook

    assert send_handoff_webhook.apply(args=[handoff.pk]).get() is False
    assert len(seen.received) == 3


def test_it_gives_up_on_a_webhook_the_receiver_refuses(hand_off, partner, depot_a, tomorrow, receiver):
    server, seen = receiver
    seen.answers = [401]
    partner.webhook_url = f"http://127.0.0.1:{server.server_port}/hooks"
    partner.save()
    handoff = hand_off(new_order(depot_a, "HOOK-2", tomorrow), partner)
    handoff.refresh_from_db()
    assert len(seen.received) == 1 and handoff.webhook_sent_at is None and "HTTP 401" in handoff.webhook_error
    # The partner still finds it through the API.
    assert handoff.status == H.OFFERED


def test_it_sends_a_dispatched_plans_handoffs(partner, depot_a, tomorrow, receiver, django_capture_on_commit_callbacks):
    from dispatch import events

    server, seen = receiver
    partner.webhook_url = f"http://127.0.0.1:{server.server_port}/hooks"
    partner.save()
    plan = Plan.objects.create(date=tomorrow, depot=depot_a, version=1, status=Plan.Status.DONE)
    order = new_order(depot_a, "PLAN-1", tomorrow, status=S.DISPATCHED)
    Handoff.objects.create(
        order=order, partner=partner, plan=plan, cost=Decimal("9.50"), cutoff_at=timezone.now() + timedelta(hours=3),
        webhook_key="k-plan-1",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        events.plan_dispatched(plan_id=plan.pk, previous_plan_id=None, reason="")
    assert [headers["Idempotency-Key"] for _p, headers, _b in seen.received] == ["k-plan-1"]


def test_it_closes_without_an_alert_a_handoff_whose_order_was_cancelled(hand_off, partner, depot_a, dispatcher_a):
    from dispatch.orders.services import order_change_status

    order = new_order(depot_a, "CANC-1", timezone.localdate() + timedelta(days=2))
    handoff = hand_off(order, partner)
    order_change_status(order=order, to_status=S.CANCELLED, by=dispatcher_a, reason="customer")
    assert services.handoff_expire(handoff_id=handoff.pk, now=handoff.cutoff_at) is True
    handoff.refresh_from_db()
    order.refresh_from_db()
    assert (handoff.status, order.status) == (H.WITHDRAWN, S.CANCELLED) and not Alert.objects.exists()


def test_it_refuses_a_partner_beyond_its_daily_capacity(dispatcher_a_client, other_partner, depot_a, tomorrow):
    other_partner.capacity_stops = 1
    other_partner.save()
    first, second = new_order(depot_a, "CAP-1", tomorrow), new_order(depot_a, "CAP-2", tomorrow)
    assert post(dispatcher_a_client, f"/api/orders/{first.pk}/handoff/", {"partner": "berg"}).status_code == 201
    refused = post(dispatcher_a_client, f"/api/orders/{second.pk}/handoff/", {"partner": "berg"})
    assert refused.status_code == 400 and "full" in refused.json()["detail"]
