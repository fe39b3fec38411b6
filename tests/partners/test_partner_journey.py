"""A hand-off from the order page to the customer's door: the dispatcher hands an order over or takes it
back (the partner is told by signed webhook), the customer hears "scheduled" when the partner accepts,
and the tracking page tells a partner's delivery as one of ours, the courier's position only when the
partner shares it.

Personas: a dispatcher of depot A (and of depot B), Alpen Kurier's login, Berg Bote's login, a customer.
"""

import json
from datetime import datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.utils import timezone

from customers.models import Feedback, Notification, PromisedWindow
from customers.tracking_links import tracking_link_ensure
from customers.tracking_tokens import token_for_nonce
from dispatch.models import AuditEntry, Handoff, Order
from dispatch.partners.webhooks import webhook_signature
from tests.partners import test_partners as first_slice
from tests.partners.conftest import new_order
from tests.partners.test_partners import PNG, post

# Fixtures of the first slice's tests, used by name: a hand-off as the dispatcher's click, a webhook receiver.
hand_off, receiver = first_slice.hand_off, first_slice.receiver

pytestmark = pytest.mark.clock

S = Order.Status
H = Handoff.Status


def token(order) -> str:
    return token_for_nonce(tracking_link_ensure(order=order).nonce)


def position(lat, lon, at) -> dict:
    return {"lat": lat, "lon": lon, "recorded_at": at.isoformat(), "accuracy_m": 8}


# --- Taking a hand-off back -----------------------------------------------------------------------


def test_it_takes_a_handoff_back_and_tells_the_partner_by_signed_webhook(
    hand_off, partner, depot_a, tomorrow, receiver, dispatcher_a_client, partner_client,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    server, seen = receiver
    partner.webhook_url = f"http://127.0.0.1:{server.server_port}/hooks"
    partner.save()
    order = new_order(depot_a, "BACK-1", tomorrow, email="erika@example.com")
    handoff = hand_off(order, partner)
    assert len(seen.received) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = post(dispatcher_a_client, f"/api/orders/{order.pk}/handoff/cancel/", {"reason": "a van is free"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "withdrawn" and response.json()["partner"] == "alpen"
    order.refresh_from_db()
    assert order.status == S.NEW  # back in planning
    assert list(order.status_history.values_list("to_status", flat=True))[-2:] == ["planned", "new"]
    # The partner is told once, signed, under a key of its own (not the offer's), the same on a retry.
    assert len(seen.received) == 2
    _path, headers, body = seen.received[-1]
    assert headers["Idempotency-Key"] == f"{handoff.webhook_key}-withdrawn"
    expected = webhook_signature("alpen-secret-0123456789", headers["X-Dispatch-Timestamp"], body)
    assert headers["X-Dispatch-Signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["event"] == "order.withdrawn" and payload["order"]["reference"] == "BACK-1"
    assert payload["reason"] == "a van is free"
    handoff.refresh_from_db()
    assert handoff.status == H.WITHDRAWN and handoff.withdrawal_webhook_sent_at is not None
    from dispatch.partners.tasks import send_withdrawal_webhook

    assert send_withdrawal_webhook.apply(args=[handoff.pk]).get() is False  # sent is sent
    assert len(seen.received) == 2
    assert AuditEntry.objects.filter(action="handoff.withdrawn").count() == 1
    # Never accepted, so the customer was never told a window by it: nothing to take back from them.
    assert not Notification.objects.filter(order=order, event="rescheduled").exists()
    # The partner no longer sees it (404), and the order can be taken back only once.
    assert post(partner_client, f"/api/partner/orders/{order.pk}/accept/").status_code == 404
    again = post(dispatcher_a_client, f"/api/orders/{order.pk}/handoff/cancel/")
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "order"
    # It may go to a partner again.
    assert post(dispatcher_a_client, f"/api/orders/{order.pk}/handoff/", {"partner": "alpen"}).status_code == 201


def test_it_refuses_to_take_back_an_order_the_partner_has_at_the_door(
    hand_off, partner, depot_a, dispatcher_a_client, dispatcher_b_client, partner_client, driver_client
):
    order = new_order(depot_a, "BACK-2", timezone.localdate())
    hand_off(order, partner)
    url = f"/api/orders/{order.pk}/handoff/cancel/"
    assert post(dispatcher_b_client, url).status_code == 404  # another depot's order
    assert post(partner_client, url).status_code == 403
    assert post(driver_client, url).status_code == 403
    assert post(partner_client, f"/api/partner/orders/{order.pk}/arrive/").status_code == 200
    refused = post(dispatcher_a_client, url)
    assert refused.status_code == 409 and "at the door" in refused.json()["detail"]
    assert Handoff.objects.get(order=order).status == H.ACCEPTED


# --- The order page -------------------------------------------------------------------------------


def test_it_hands_over_and_takes_back_from_the_order_page(
    partner, other_partner, depot_a, zone_a, tomorrow, dispatcher_a, dispatcher_b, django_capture_on_commit_callbacks
):
    browser = Client()
    browser.force_login(dispatcher_a)
    # Alpen serves Malbun with a fridge; Berg has no fridge: only Alpen is offered, with its price.
    order = new_order(depot_a, "PAGE-1", tomorrow, zone=zone_a, skills=["fridge"])
    page = browser.get(f"/orders/{order.pk}/").content.decode()
    assert 'id="action-hand-off"' in page and "Alpen Kurier · 13.00" in page and "Berg Bote" not in page
    refused = browser.post(f"/orders/{order.pk}/hand-off/", {"partner": "berg"})
    assert refused.status_code == 400 and "Partner berg cannot take this order." in refused.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = browser.post(f"/orders/{order.pk}/hand-off/", {"partner": "alpen", "reason": "mountain"})
    assert done.status_code == 302
    page = browser.get(f"/orders/{order.pk}/").content.decode()
    assert 'data-field="handoff-partner">Alpen Kurier' in page and 'data-field="handoff-status">Offered' in page
    assert 'data-field="handoff-price">13.00' in page and 'data-field="handoff-cutoff"' in page
    assert 'id="action-take-back"' in page and 'id="action-hand-off"' not in page
    with django_capture_on_commit_callbacks(execute=True):
        back = browser.post(f"/orders/{order.pk}/take-back/", {"reason": "our van"})
    assert back.status_code == 302
    order.refresh_from_db()
    assert order.status == S.NEW and Handoff.objects.get(order=order).status == H.WITHDRAWN
    page = browser.get(f"/orders/{order.pk}/").content.decode()
    assert 'data-field="handoff-status">Withdrawn' in page and 'id="action-hand-off"' in page
    # Another depot's dispatcher: 404 on both.
    other = Client()
    other.force_login(dispatcher_b)
    assert other.post(f"/orders/{order.pk}/hand-off/", {"partner": "alpen"}).status_code == 404
    assert other.post(f"/orders/{order.pk}/take-back/").status_code == 404


# --- The customer sees one company -----------------------------------------------------------------


def test_it_tells_the_customer_scheduled_when_the_partner_accepts(
    hand_off, partner, partner_client, depot_a, customer, client, dispatcher_a_client,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    start = timezone.localtime(timezone.now().replace(second=0, microsecond=0) + timedelta(hours=2))
    order = new_order(
        depot_a, "ONE-1", timezone.localdate(), customer=customer, email=customer.email, phone=customer.phone,
        window_start=start, window_end=start + timedelta(hours=1),
    )  # fmt: skip
    hand_off(order, partner)
    assert not Notification.objects.filter(order=order, event="scheduled").exists()  # offered: nothing yet
    with django_capture_on_commit_callbacks(execute=True):
        assert post(partner_client, f"/api/partner/orders/{order.pk}/accept/").status_code == 200
    told = Notification.objects.filter(order=order, event="scheduled")
    # The same "scheduled" message our own dispatch sends, on each of the customer's channels.
    assert sorted(told.values_list("channel", flat=True)) == ["email", "sms"]
    assert order.reference in told.get(channel="email").body or start.strftime("%H:%M") in told.get(channel="sms").body
    promise = PromisedWindow.objects.get(order=order)
    assert (promise.start, promise.end) == (order.window_start, order.window_end)
    # Accepting again (a retry) tells nobody twice.
    with django_capture_on_commit_callbacks(execute=True):
        assert post(partner_client, f"/api/partner/orders/{order.pk}/accept/").status_code == 200
    assert told.count() == 2
    # Taken back after that: the promised window no longer holds; "we will reschedule", as when our own
    # plan takes a stop off its route, and the tracking page shows no window.
    with django_capture_on_commit_callbacks(execute=True):
        assert post(dispatcher_a_client, f"/api/orders/{order.pk}/handoff/cancel/").status_code == 200
    rescheduled = Notification.objects.filter(order=order, event="rescheduled")
    assert sorted(rescheduled.values_list("channel", flat=True)) == ["email", "sms"]
    assert not PromisedWindow.objects.filter(order=order).exists()
    state = client.get(f"/api/track/{token(order)}/").json()
    assert state["status"] == "rescheduling" and state["eta_window"] == {"start": None, "end": None}


def test_the_tracking_page_tells_a_partners_delivery_as_one_of_ours(
    hand_off, partner, partner_client, depot_a, customer, client, django_capture_on_commit_callbacks
):
    # an hour of real time from now (wall-clock arithmetic would land in the spring-forward gap)
    start = timezone.localtime(timezone.now().replace(second=0, microsecond=0) + timedelta(hours=1))
    order = new_order(
        depot_a, "ONE-2", timezone.localdate(), customer=customer, email=customer.email, phone=customer.phone,
        window_start=start, window_end=start + timedelta(hours=2),
    )  # fmt: skip
    hand_off(order, partner)
    with django_capture_on_commit_callbacks(execute=True):
        post(partner_client, f"/api/partner/orders/{order.pk}/accept/")
    link = token(order)
    state = client.get(f"/api/track/{link}/").json()
    assert state["status"] == "scheduled" and state["driver_name"] == "" and state["driver_position"] is None
    order.refresh_from_db()
    assert datetime.fromisoformat(state["eta_window"]["start"].replace("Z", "+00:00")) == order.window_start
    page = client.get(f"/t/{link}/")
    assert page.status_code == 200 and "Alpen" not in page.content.decode()  # one company: no partner's name
    # The customer writes; it reaches our inbox as any message.
    assert (
        client.post(
            f"/api/track/{link}/messages/", {"text": "Bitte klingeln"}, content_type="application/json"
        ).status_code
        == 201
    )
    with django_capture_on_commit_callbacks(execute=True):
        delivered = post(
            partner_client, f"/api/partner/orders/{order.pk}/deliver/", {"recipient_name": "Erika", "photo": PNG}
        )
    assert delivered.status_code == 200, delivered.content
    state = client.get(f"/api/track/{link}/").json()
    assert (
        state["status"] == "delivered" and state["proof"]["recipient_name"] == "Erika" and state["proof"]["has_photo"]
    )
    assert [event["status"] for event in state["events"]][-3:] == ["scheduled", "arrived", "delivered"]
    rated = client.post(
        f"/api/track/{link}/feedback/", {"rating": 5, "comment": "schnell"}, content_type="application/json"
    )
    assert rated.status_code == 201 and Feedback.objects.get(order=order).rating == 5
    assert client.get(f"/api/track/{link}/").json()["feedback"] == {"rating": 5, "comment": "schnell"}


def test_it_shows_the_partner_courier_only_when_the_partner_shares_its_position(
    hand_off, partner, partner_client, other_partner, other_partner_client, depot_a, client,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    order = new_order(depot_a, "POS-1", timezone.localdate())
    hand_off(order, partner)
    hand_off(new_order(depot_a, "POS-2", timezone.localdate()), other_partner)
    link = token(order)
    now = timezone.now()
    body = {"order": order.pk, "positions": [position(47.15, 9.52, now - timedelta(seconds=30))]}
    # Not shared: refused with the reason, and the page shows no courier.
    refused = post(partner_client, "/api/partner/positions/", body)
    assert refused.status_code == 403 and "does not share" in refused.json()["detail"]
    assert client.get(f"/api/track/{link}/").json()["driver_position"] is None
    partner.shares_position = True
    partner.save()
    with django_capture_on_commit_callbacks(execute=True):
        taken = post(partner_client, "/api/partner/positions/", body)
    assert taken.status_code == 202, taken.content
    shown = client.get(f"/api/track/{link}/").json()
    assert shown["driver_position"]["lat"] == 47.15 and shown["is_next_stop"] is True
    # Batches: the newest counts; an older one than shown changes nothing.
    newer = {"order": order.pk, "positions": [position(47.16, 9.53, now - timedelta(seconds=5)),
                                              position(47.10, 9.50, now - timedelta(seconds=20))]}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        assert post(partner_client, "/api/partner/positions/", newer).status_code == 202
    older = {"order": order.pk, "positions": [position(47.0, 9.4, now - timedelta(minutes=5))]}
    assert post(partner_client, "/api/partner/positions/", older).status_code == 202
    assert client.get(f"/api/track/{link}/").json()["driver_position"]["lat"] == 47.16
    # Another partner cannot post for this order (404), nor a partner for an order it does not have.
    other_partner.shares_position = True
    other_partner.save()
    assert post(other_partner_client, "/api/partner/positions/", body).status_code == 404
    # Bad bodies name the field.
    bad = post(partner_client, "/api/partner/positions/", {"order": order.pk, "positions": []})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"].startswith("positions")
    future = {"order": order.pk, "positions": [position(47.1, 9.5, now + timedelta(hours=1))]}
    assert post(partner_client, "/api/partner/positions/", future).status_code == 400
    # A stale position is not shown; a partner that stops sharing is shown no more.
    with time_machine.travel(now + timedelta(seconds=settings.TRACKING_POSITION_MAX_AGE_S + 60)):
        assert client.get(f"/api/track/{link}/").json()["driver_position"] is None
    partner.shares_position = False
    partner.save()
    assert client.get(f"/api/track/{link}/").json()["driver_position"] is None
    # Delivered: the courier's position is over.
    partner.shares_position = True
    partner.save()
    with django_capture_on_commit_callbacks(execute=True):
        post(partner_client, f"/api/partner/orders/{order.pk}/deliver/", {"recipient_name": "Erika"})
    late = post(partner_client, "/api/partner/positions/", body)
    assert late.status_code == 409
    assert client.get(f"/api/track/{link}/").json()["driver_position"] is None
