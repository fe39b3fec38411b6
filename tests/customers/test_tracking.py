"""The tracking page and API: tokens, expiry and revocation, headers, rate limits, what is shown,
feedback and messages; the dispatcher's inbox, order page and reply."""

import secrets
import statistics
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from customers.models import CustomerMessage, Feedback, Notification, TrackingLink
from customers.tracking_links import tracking_link_reissue
from dispatch.models import Order, ProofOfDelivery
from tests.customers.conftest import new_token, token_of
from tests.offline_pages import assert_no_cdn

pytestmark = pytest.mark.clock

S = Order.Status


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def order(day_route):
    return day_route["orders"][0]


def test_it_shows_the_status_window_and_driver_first_name(api, order, day_route):
    response = api.get(f"/api/track/{token_of(order)}/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "scheduled"
    assert body["driver_name"] == "Dana"
    assert set(body["eta_window"]) == {"start", "end"}
    assert body["is_next_stop"] is True
    assert body["driver_position"] is None  # no position yet
    assert isinstance(body["events"], list)


def test_it_shows_the_drivers_position_only_while_the_order_is_the_next_stop(api, day_route):
    first, second, _ = day_route["orders"]
    driver = day_route["driver"]
    driver.last_lat, driver.last_lon, driver.last_position_at = 47.15, 9.52, timezone.now()
    driver.save()
    assert api.get(f"/api/track/{token_of(first)}/").json()["driver_position"]["lat"] == 47.15
    assert api.get(f"/api/track/{token_of(second)}/").json()["driver_position"] is None
    Order.objects.filter(pk=first.pk).update(status=S.DELIVERED)
    assert api.get(f"/api/track/{token_of(second)}/").json()["driver_position"]["lon"] == 9.52
    # A stale position is not shown (the driver's phone went quiet).
    driver.last_position_at = timezone.now() - timedelta(hours=1)
    driver.save()
    assert api.get(f"/api/track/{token_of(second)}/").json()["driver_position"] is None


def test_it_answers_the_same_404_for_random_malformed_expired_and_revoked_tokens(api, order):
    expired_token = new_token(order)
    TrackingLink.objects.filter(order=order).update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked_order = Order.objects.create(reference="R", date=order.date, depot=order.depot, lat=47.1, lon=9.5)
    revoked_token = new_token(revoked_order)
    tracking_link_reissue(order=revoked_order)
    candidates = [secrets.token_urlsafe(20) for _ in range(50)] + [
        "x",
        "not a token!",
        "a" * 300,
        expired_token,
        revoked_token,
    ]
    answers = set()
    for token in candidates:
        for path in (f"/api/track/{token}/", f"/t/{token}/"):
            response = api.get(path)
            assert response.status_code == 404, (token, path)
            if path.startswith("/api/"):
                answers.add(response.content)
    assert len(answers) == 1


def test_it_looks_tokens_up_without_a_timing_difference_between_near_and_far_guesses(order):
    """Lookup is by the HMAC digest of the token on a unique index: a guess sharing a long prefix
    with the real token costs the same as a random one (medians within noise)."""
    from customers.selectors import tracking_link_for_token

    real = token_of(order)
    near = real[:-1] + ("A" if real[-1] != "A" else "B")
    far = secrets.token_urlsafe(20)

    def timed(token) -> float:
        started = time.perf_counter()
        assert tracking_link_for_token(token) is None
        return time.perf_counter() - started

    for _ in range(20):  # warm up
        timed(far)
    # Interleaved, so a busy machine slows both alike; medians ignore the odd scheduler hiccup.
    samples = {"near": [], "far": []}
    for _ in range(300):
        samples["near"].append(timed(near))
        samples["far"].append(timed(far))
    near_s, far_s = statistics.median(samples["near"]), statistics.median(samples["far"])
    assert abs(near_s - far_s) < max(near_s, far_s) * 0.5, (near_s, far_s)


def test_it_revokes_and_reissues_a_link(api, order):
    old = token_of(order)
    new = tracking_link_reissue(order=order)
    from customers.tracking_tokens import token_for_nonce

    assert api.get(f"/api/track/{old}/").status_code == 404
    assert api.get(f"/api/track/{token_for_nonce(new.nonce)}/").status_code == 200


def test_it_expires_links_a_set_time_after_completion(api, order, settings, django_capture_on_commit_callbacks):
    from dispatch.orders.services import order_change_status

    settings.TRACKING_LINK_TTL_DAYS = 3
    token = token_of(order)
    with django_capture_on_commit_callbacks(execute=True):
        order_change_status(order=order, to_status=S.ARRIVED)
        order_change_status(order=order, to_status=S.DELIVERED)
    link = TrackingLink.objects.get(order=order)
    assert timedelta(days=2, hours=23) < link.expires_at - timezone.now() <= timedelta(days=3)
    assert api.get(f"/api/track/{token}/").status_code == 200
    TrackingLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api.get(f"/api/track/{token}/").status_code == 404


def test_it_sends_private_uncached_unindexed_responses_with_a_strict_csp(client, order):
    token = token_of(order)
    for path in (f"/t/{token}/", f"/api/track/{token}/", f"/t/{secrets.token_urlsafe(20)}/"):
        response = client.get(path)
        if response.status_code == 404 and path.startswith("/t/"):
            continue  # Django's 404 page; nothing of the order on it
        assert response["Referrer-Policy"] == "no-referrer"
        assert response["X-Robots-Tag"].startswith("noindex")
        assert response["Cache-Control"] == "no-store"
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp
    page = client.get(f"/t/{token}/").content.decode()
    assert "<script>" not in page.replace('<script id="tracking-state" type="application/json">', "")
    assert "http://" not in page.replace("http://testserver", "")
    assert_no_cdn(page, token)  # the token is random letters too


def test_it_renders_the_page_in_the_customers_language(client, day_route):
    german, english, _ = day_route["orders"]
    de = client.get(f"/t/{token_of(german)}/").content.decode()
    assert 'lang="de"' in de and "Ihre Lieferung" in de and "Eingeplant" in de and "Nachricht senden" in de
    en = client.get(f"/t/{token_of(english)}/").content.decode()
    assert 'lang="en"' in en and "Your delivery" in en and "Scheduled" in en and "Send message" in en
    assert "Your delivery" in client.get(f"/t/{token_of(german)}/?lang=en").content.decode()


def test_it_rate_limits_per_token_and_per_ip(api, order, settings):
    settings.TRACKING_RATE_PER_TOKEN = 5
    settings.TRACKING_RATE_PER_IP = 8
    token = token_of(order)
    statuses = [api.get(f"/api/track/{token}/").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert api.get(f"/api/track/{token}/")["Retry-After"]
    # The same IP guessing other tokens runs into the per-IP limit (404s count too).
    more = [api.get(f"/api/track/{secrets.token_urlsafe(20)}/").status_code for _ in range(3)]
    assert more[-1] == 429
    other_ip = APIClient(REMOTE_ADDR="10.0.0.9")
    assert other_ip.get(f"/api/track/{secrets.token_urlsafe(20)}/").status_code == 404


def test_it_takes_feedback_only_after_delivery_and_lets_the_customer_update_it(api, order):
    url = f"/api/track/{token_of(order)}/feedback/"
    early = api.post(url, {"rating": 5}, format="json")
    assert early.status_code == 400 and early.json()["errors"][0]["field"] == "rating"
    Order.objects.filter(pk=order.pk).update(status=S.DELIVERED)
    for bad in ({"rating": 0}, {"rating": 6}, {"rating": "five"}, {}, {"rating": 3, "comment": "x" * 2001}):
        response = api.post(url, bad, format="json")
        assert response.status_code == 400, bad
        assert response.json()["errors"]
    assert api.post(url, {"rating": 2, "comment": "late"}, format="json").status_code == 201
    assert api.post(url, {"rating": 4, "comment": "fine after all"}, format="json").status_code == 201
    feedback = Feedback.objects.get(order=order)
    assert (feedback.rating, feedback.comment) == (4, "fine after all")
    assert api.get(f"/api/track/{token_of(order)}/").json()["feedback"]["rating"] == 4


def test_it_shows_the_proof_after_delivery(api, client, order):
    from django.core.files.base import ContentFile

    Order.objects.filter(pk=order.pk).update(status=S.DELIVERED)
    proof = ProofOfDelivery(order=order, recipient_name="E. Muster", delivered_at=timezone.now())
    proof.photo.save("door.png", ContentFile(b"\x89PNG fake"), save=False)
    proof.save()
    token = token_of(order)
    body = api.get(f"/api/track/{token}/").json()
    assert body["status"] == "delivered" and body["proof"]["recipient_name"] == "E. Muster"
    assert body["proof"]["has_photo"] is True
    photo = client.get(f"/t/{token}/proof/photo/")
    assert photo.status_code == 200 and b"".join(photo.streaming_content) == b"\x89PNG fake"
    assert client.get(f"/t/{token}/proof/signature/").status_code == 404
    assert client.get(f"/t/{secrets.token_urlsafe(20)}/proof/photo/").status_code == 404


def test_it_takes_messages_into_the_depots_inbox_and_sends_the_reply_on_the_customers_channel(
    api, client, order, dispatcher_a, dispatcher_b, django_capture_on_commit_callbacks
):
    url = f"/api/track/{token_of(order)}/messages/"
    assert api.post(url, {"text": ""}, format="json").status_code == 400
    assert api.post(url, {"text": "x" * 1001}, format="json").status_code == 400
    assert api.post(url, {"text": "Bitte beim Nachbarn abgeben."}, format="json").status_code == 201

    client.force_login(dispatcher_a)
    home = client.get("/").content.decode()
    assert 'Inbox <span class="nav-count" title="Unread messages">1</span>' in home
    inbox = client.get("/inbox/").content.decode()
    assert "ORD-1" in inbox and "Bitte beim Nachbarn" in inbox

    page = client.get(f"/orders/{order.pk}/")
    assert page.status_code == 200 and "Bitte beim Nachbarn abgeben." in page.content.decode()
    assert CustomerMessage.objects.get(direction="in").read_at is not None  # read by opening the order
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/orders/{order.pk}/reply/", {"text": "Gerne, wir geben es bei Nr. 5 ab."})
    assert response.status_code == 302
    reply = Notification.objects.get(order=order, event="reply")
    assert reply.channel == "sms" and reply.status == "sent" and "Nr. 5" in reply.body
    assert "Gerne" in client.get(f"/orders/{order.pk}/").content.decode()
    assert not mail.outbox or all("Nr. 5" not in m.body for m in mail.outbox)

    client.force_login(dispatcher_b)
    assert client.get(f"/orders/{order.pk}/").status_code == 404
    assert client.post(f"/orders/{order.pk}/reply/", {"text": "hi"}).status_code == 404
    assert "ORD-1" not in client.get("/inbox/").content.decode()


def test_it_rate_limits_messages_per_token(api, order, settings):
    settings.TRACKING_MESSAGES_PER_HOUR = 2
    url = f"/api/track/{token_of(order)}/messages/"
    statuses = [api.post(url, {"text": f"m{i}"}, format="json").status_code for i in range(3)]
    assert statuses == [201, 201, 429]


def test_it_shows_the_order_page_to_office_staff_only(client, order, driver_a, manager):
    url = f"/orders/{order.pk}/"
    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(driver_a.user)
    assert client.get(url).status_code == 403
    client.force_login(manager)
    page = client.get(url)
    assert page.status_code == 200 and "Communication log" in page.content.decode()


def test_it_lets_a_dispatcher_revoke_and_reissue_the_link_from_the_order_page(client, order, dispatcher_a, api):
    old = token_of(order)
    client.force_login(dispatcher_a)
    assert client.post(f"/orders/{order.pk}/tracking-link/").status_code == 302
    assert api.get(f"/api/track/{old}/").status_code == 404
    assert TrackingLink.objects.filter(order=order, revoked_at__isnull=True).count() == 1


def test_it_answers_405_for_methods_the_tracking_endpoints_lack(api, db):
    token = secrets.token_urlsafe(20)
    assert api.put(f"/api/track/{token}/", {}, format="json").status_code == 405
    assert api.get(f"/api/track/{token}/feedback/").status_code == 405
    assert api.delete(f"/api/track/{token}/messages/").status_code == 405
    assert api.get(f"/api/track/{token}/").status_code == 404


def test_it_shows_managers_the_outbox_and_the_editable_templates_in_the_admin(client, manager, order):
    client.force_login(manager)
    from customers.services import notifications_create

    notifications_create(order=order, event="scheduled", occasion="x")
    assert client.get("/admin/customers/notification/").status_code == 200
    assert client.get("/admin/customers/notificationtemplate/").status_code == 200
    from customers.models import NotificationTemplate

    template_id = NotificationTemplate.objects.first().pk
    assert client.get(f"/admin/customers/notificationtemplate/{template_id}/change/").status_code == 200
