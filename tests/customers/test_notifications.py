"""What customers are told, when, on which channel and in which language; each message at most once."""

import json
import threading
from datetime import datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from customers.models import Notification, NotificationTemplate, PromisedWindow
from customers.notifications.backends import webhook_signature
from customers.notifications.promises import delay_messages_send_due
from customers.notifications.sending import notification_send
from dispatch import events
from dispatch.models import Alert, Order, ProofOfDelivery
from dispatch.orders.services import order_change_status
from routes.models import Stop
from tests.customers.conftest import make_plan, soon

pytestmark = pytest.mark.clock

S = Order.Status
N = Notification.Status


@pytest.fixture
def run_events(django_capture_on_commit_callbacks):
    """Emit an event as a service would after commit; the tasks it enqueues run inline, to the end."""

    def run(event, **payload):
        with django_capture_on_commit_callbacks(execute=True):
            getattr(events, event)(**payload)

    return run


@pytest.fixture
def change_status(django_capture_on_commit_callbacks):
    def change(order, to_status, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            order_change_status(order=order, to_status=to_status, **kwargs)

    return change


def sent(order, event=None):
    rows = Notification.objects.filter(order=order)
    if event:
        rows = rows.filter(event=event)
    return sorted((n.event, n.channel, n.status) for n in rows)


def test_it_tells_each_customer_their_window_once_when_the_plan_is_dispatched(day_route, run_events):
    first, second, third = day_route["orders"]
    run_events("plan_dispatched", plan_id=day_route["plan"].pk, previous_plan_id=None, reason="optimized")
    run_events("plan_dispatched", plan_id=day_route["plan"].pk, previous_plan_id=None, reason="optimized")

    assert sent(first) == [("scheduled", "email", "sent"), ("scheduled", "sms", "sent")]
    assert sent(second) == [("scheduled", "email", "sent")]  # no phone
    assert sent(third) == [("scheduled", "sms", "sent")]  # the order's phone, no e-mail
    promise = PromisedWindow.objects.get(order=first)
    eta = Stop.objects.get(order=first).eta
    # ETA ± 30 min, on a 5-minute grid.
    assert (
        promise.end - promise.start == timedelta(hours=1) and promise.start + timedelta(minutes=25) < eta < promise.end
    )
    assert timezone.localtime(promise.start).minute % 5 == 0
    # One e-mail per customer, German for Erika, with her window and a tracking link.
    assert len(mail.outbox) == 2
    erika = next(m for m in mail.outbox if m.to == ["erika@example.com"])
    window = f"{timezone.localtime(promise.start):%H:%M} und {timezone.localtime(promise.end):%H:%M}"
    assert "Guten Tag Erika Muster" in erika.body and window in erika.body
    assert "https://track.example.com/t/" in erika.body
    john = next(m for m in mail.outbox if m.to == ["john@example.com"])
    assert john.subject.startswith("Your delivery ORD-2 arrives on") and "Hello John Smith" in john.body


def test_it_says_delayed_only_when_the_eta_leaves_the_promise_beyond_the_threshold(day_route, run_events):
    first = day_route["orders"][0]
    run_events("plan_dispatched", plan_id=day_route["plan"].pk)
    promise = PromisedWindow.objects.get(order=first)

    # 35 minutes later: still within end + 10 min threshold (window is ETA ± 30).
    run_events("eta_changed", order_id=first.pk, depot_id=first.depot_id, eta=promise.end + timedelta(minutes=9))
    assert sent(first, "delayed") == []
    late = promise.end + timedelta(minutes=40)
    run_events("eta_changed", order_id=first.pk, depot_id=first.depot_id, eta=late)
    run_events("eta_changed", order_id=first.pk, depot_id=first.depot_id, eta=late)  # repeated: nothing new
    assert sent(first, "delayed") == [("delayed", "email", "sent"), ("delayed", "sms", "sent")]
    promise.refresh_from_db()
    assert promise.revision == 2 and promise.start <= late <= promise.end
    sms = Notification.objects.get(order=first, event="delayed", channel="sms")
    assert f"{timezone.localtime(promise.start):%H:%M}-{timezone.localtime(promise.end):%H:%M}" in sms.body
    # A second, further delay is a new promise at once, and a new message once the minimum interval
    # between "delayed" messages is over (tests/customers/test_delay_interval.py has the details).
    run_events("eta_changed", order_id=first.pk, depot_id=first.depot_id, eta=late + timedelta(hours=1))
    promise.refresh_from_db()
    assert promise.revision == 3 and promise.start <= late + timedelta(hours=1) <= promise.end
    assert Notification.objects.filter(order=first, event="delayed").count() == 2
    with time_machine.travel(timezone.now() + timedelta(minutes=16), tick=True):
        assert delay_messages_send_due() == 2
    assert Notification.objects.filter(order=first, event="delayed").count() == 4


def test_it_tells_customers_whose_window_moved_in_a_new_plan_version(day_route, run_events, depot_a, vehicle_a):
    first, second, third = day_route["orders"]
    run_events("plan_dispatched", plan_id=day_route["plan"].pk)
    etas = dict(Stop.objects.filter(route__plan=day_route["plan"]).values_list("order_id", "eta"))
    revision = make_plan(
        depot_a, vehicle_a, day_route["driver"],
        [(first, etas[first.pk]), (second, etas[second.pk] + timedelta(minutes=55)), (third, etas[third.pk])],
        day=first.date, version=2,
    )  # fmt: skip
    run_events("plan_updated", plan_id=revision.pk, previous_plan_id=day_route["plan"].pk, reason="closure", changes={})
    assert sent(second, "delayed") == [("delayed", "email", "sent")]
    assert sent(first, "delayed") == [] and sent(third, "delayed") == []


def test_it_sends_out_for_delivery_and_arriving_soon_as_the_driver_works_the_route(day_route, change_status):
    first, second, third = day_route["orders"]
    change_status(first, S.EN_ROUTE)
    assert sent(first) == [("arriving_soon", "email", "sent"), ("arriving_soon", "sms", "sent")]
    assert sent(second) == [("out_for_delivery", "email", "sent")]
    assert sent(third) == [("out_for_delivery", "sms", "sent")]
    assert "Dana" in Notification.objects.get(order=second).body  # the driver's first name only
    assert "Driver" not in Notification.objects.get(order=second).body

    change_status(first, S.ARRIVED)
    ProofOfDelivery.objects.create(order=first, recipient_name="E. Muster", delivered_at=timezone.now())
    change_status(first, S.DELIVERED)
    # Delivered with the proof; the next stop is told it is next.
    delivered = Notification.objects.get(order=first, event="delivered", channel="email")
    assert "von E. Muster entgegengenommen" in delivered.body
    assert sent(second, "arriving_soon") == [("arriving_soon", "email", "sent")]
    assert Notification.objects.filter(order=second, event="out_for_delivery").count() == 1


def test_it_sends_arriving_soon_when_the_live_eta_is_under_15_minutes(day_route, run_events):
    second = day_route["orders"][1]
    run_events("eta_changed", order_id=second.pk, depot_id=second.depot_id, eta=soon(20))
    assert sent(second, "arriving_soon") == []
    run_events("eta_changed", order_id=second.pk, depot_id=second.depot_id, eta=soon(12))
    run_events("eta_changed", order_id=second.pk, depot_id=second.depot_id, eta=soon(8))
    assert sent(second, "arriving_soon") == [("arriving_soon", "email", "sent")]


def test_it_explains_a_failed_delivery_and_how_to_reschedule_in_both_languages(day_route, change_status):
    first, second, _third = day_route["orders"]
    change_status(first, S.FAILED, reason="not_home")
    change_status(second, S.FAILED, reason="no_access")
    german = Notification.objects.get(order=first, event="failed", channel="email")
    assert "es war niemand zu Hause" in german.body and "/t/" in german.body and german.language == "de"
    english = Notification.objects.get(order=second, event="failed", channel="email")
    assert "we could not get to the door" in english.body and "Tell us when suits you" in english.body
    # Its tracking link now expires a set time after completion.
    link = first.tracking_links.get()
    assert link.expires_at is not None and link.expires_at > timezone.now() + timedelta(days=13)


def test_it_respects_opt_out_and_channel_preferences(day_route, run_events, customer):
    customer.notify_by_sms = False
    customer.save()
    run_events("plan_dispatched", plan_id=day_route["plan"].pk)
    first = day_route["orders"][0]
    assert sent(first) == [("scheduled", "email", "sent")]

    customer.opted_out = True
    customer.save()
    run_events("eta_changed", order_id=first.pk, depot_id=first.depot_id, eta=soon(5))
    skipped = Notification.objects.filter(order=first, event="arriving_soon")
    assert [(n.status, n.status_reason) for n in skipped] == [("skipped", "opted out")]
    assert len(mail.outbox) == 1 + 1  # Erika's and John's schedules only


@pytest.fixture(params=["now", "23:40", "00:20"])
def hour(request):
    """The hour the test runs at: the suite's (pinned by `make test-clock`), then on either side of midnight."""
    if request.param == "now":
        yield timezone.localtime()
        return
    moment = timezone.make_aware(datetime.combine(timezone.localdate(), time.fromisoformat(request.param)))
    with time_machine.travel(moment.timestamp(), tick=True):
        yield moment


def test_it_holds_messages_in_quiet_hours_and_skips_arriving_soon(hour, day_route, run_events, customer, settings):
    # Quiet hours around now: near midnight they span it (22:40-00:40, 23:20-01:20).
    now = timezone.localtime()
    customer.quiet_hours_start = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    customer.quiet_hours_end = (now + timedelta(hours=1)).time().replace(second=0, microsecond=0)
    customer.save()
    first = day_route["orders"][0]
    run_events("plan_dispatched", plan_id=day_route["plan"].pk)
    held = Notification.objects.filter(order=first, event="scheduled")
    assert {n.status for n in held} == {"held"}
    assert all(n.send_after > timezone.now() for n in held)
    run_events("eta_changed", order_id=first.pk, depot_id=first.depot_id, eta=soon(5))
    assert {n.status for n in Notification.objects.filter(order=first, event="arriving_soon")} == {"skipped"}

    # When quiet hours end, the held messages go out (once), on the next send attempt.
    later = held[0].send_after + timedelta(seconds=1)
    for notification in held:
        assert notification_send(notification_id=notification.pk, now=later).status == "sent"
        assert notification_send(notification_id=notification.pk, now=later).status == "sent"
    assert sent(first, "scheduled") == [("scheduled", "email", "sent"), ("scheduled", "sms", "sent")]


def test_it_skips_a_held_message_that_is_outdated_when_quiet_hours_end(hour, day_route, run_events, customer):
    now = timezone.localtime()
    customer.quiet_hours_start = (now - timedelta(minutes=30)).time()
    customer.quiet_hours_end = (now + timedelta(minutes=30)).time()
    customer.save()
    run_events("plan_dispatched", plan_id=day_route["plan"].pk)
    first = day_route["orders"][0]
    Order.objects.filter(pk=first.pk).update(status=S.DELIVERED)
    notification = Notification.objects.filter(order=first, event="scheduled").first()
    outcome = notification_send(notification_id=notification.pk, now=notification.send_after + timedelta(seconds=1))
    assert outcome.status == "skipped"


def test_it_retries_a_transient_failure_then_gives_up_and_alerts_the_dispatcher(day_route, run_events, settings):
    settings.SMS_BACKEND = "tests.customers.flaky_backends.AlwaysDownSmsBackend"
    settings.NOTIFICATION_RETRY_DELAYS_S = [0, 0]
    run_events("plan_dispatched", plan_id=day_route["plan"].pk)
    sms = Notification.objects.get(order=day_route["orders"][0], channel="sms")
    assert sms.status == "failed" and sms.attempts == 3 and "gave up after 3 attempts" in sms.status_reason
    alert = Alert.objects.get(dedup_key=f"notification:{sms.pk}")
    assert alert.depot_id == day_route["orders"][0].depot_id and "SMS" in alert.message
    # E-mails are unaffected.
    assert Notification.objects.get(order=day_route["orders"][0], channel="email").status == "sent"


def test_it_sends_once_when_the_first_attempt_fails_transiently(day_route, run_events, settings):
    settings.SMS_BACKEND = "tests.customers.flaky_backends.FailFirstAttemptSmsBackend"
    settings.NOTIFICATION_RETRY_DELAYS_S = [0]
    run_events("plan_dispatched", plan_id=day_route["plan"].pk)
    sms = Notification.objects.get(order=day_route["orders"][0], channel="sms")
    assert (sms.status, sms.attempts, sms.sent_at is not None) == ("sent", 2, True)


def test_it_never_resends_a_row_that_is_sent_or_being_sent(day_route, run_events):
    run_events("plan_dispatched", plan_id=day_route["plan"].pk)
    email = Notification.objects.get(order=day_route["orders"][0], channel="email")
    before = len(mail.outbox)
    assert notification_send(notification_id=email.pk).status == "sent"
    Notification.objects.filter(pk=email.pk).update(status="sending", claimed_at=timezone.now())
    assert notification_send(notification_id=email.pk).status == "sending"
    # Interrupted long ago (worker killed mid-send): marked failed, not sent again.
    outcome = notification_send(notification_id=email.pk, now=timezone.now() + timedelta(minutes=11))
    assert outcome.status == "failed" and len(mail.outbox) == before


def test_it_uses_the_managers_edited_template(day_route, run_events):
    template = NotificationTemplate.objects.get(event="scheduled", channel="sms", language="de")
    template.body = "Hoi {{ name }}! {{ reference }} kommt {{ window_start }}. {{ tracking_url }}"
    template.save()
    run_events("plan_dispatched", plan_id=day_route["plan"].pk)
    body = Notification.objects.get(order=day_route["orders"][0], channel="sms").body
    assert body.startswith("Hoi Erika Muster! ORD-1 kommt ") and "https://track.example.com/t/" in body


def test_it_refuses_a_template_with_a_syntax_error_in_the_admin(manager, client):
    client.force_login(manager)
    template = NotificationTemplate.objects.get(event="scheduled", channel="sms", language="en")
    response = client.post(
        f"/admin/customers/notificationtemplate/{template.pk}/change/",
        {"event": "scheduled", "channel": "sms", "language": "en", "subject": "", "body": "{% if %}"},
    )
    assert response.status_code == 200 and "Template error" in response.content.decode()
    template.refresh_from_db()
    assert "{% if %}" not in template.body


class _Receiver(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, dict(self.headers), body))
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"sid": "SM123"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def http_receiver():
    _Receiver.received = []
    _Receiver.status = 200
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, _Receiver
    server.shutdown()


def test_it_posts_signed_webhooks(day_route, run_events, settings, http_receiver):
    server, receiver = http_receiver
    settings.NOTIFICATION_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hooks/dispatch"
    settings.NOTIFICATION_WEBHOOK_SECRET = "s3cret"
    run_events("plan_dispatched", plan_id=day_route["plan"].pk)
    assert len(receiver.received) == 3  # one per order
    path, headers, body = receiver.received[0]
    assert path == "/hooks/dispatch"
    expected = webhook_signature("s3cret", headers["X-Dispatch-Timestamp"], body)
    assert headers["X-Dispatch-Signature"] == f"sha256={expected}"
    assert json.loads(body)["event"] == "scheduled"


def test_it_sends_sms_through_twilios_http_api(day_route, run_events, settings, http_receiver):
    server, receiver = http_receiver
    settings.SMS_BACKEND = "customers.notifications.backends.TwilioSmsBackend"
    settings.TWILIO_API_URL = f"http://127.0.0.1:{server.server_port}"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_FROM_NUMBER = "AC1", "tok", "+4233000000"
    run_events("plan_dispatched", plan_id=day_route["plan"].pk)
    paths = {path for path, _headers, _body in receiver.received}
    assert paths == {"/2010-04-01/Accounts/AC1/Messages.json"}
    _path, headers, body = receiver.received[0]
    assert headers["Authorization"].startswith("Basic ") and b"To=%2B41790000001" in body
    assert Notification.objects.get(order=day_route["orders"][0], channel="sms").provider_id == "SM123"


def test_it_marks_a_rejected_sms_failed_without_retrying(day_route, run_events, settings, http_receiver):
    server, receiver = http_receiver
    receiver.status = 400
    settings.SMS_BACKEND = "customers.notifications.backends.TwilioSmsBackend"
    settings.TWILIO_API_URL = f"http://127.0.0.1:{server.server_port}"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC1", "tok"
    run_events("plan_dispatched", plan_id=day_route["plan"].pk)
    sms = Notification.objects.get(order=day_route["orders"][0], channel="sms")
    assert (sms.status, sms.attempts) == ("failed", 1) and "HTTP 400" in sms.status_reason


def test_it_refuses_a_provider_url_that_is_not_http(day_route, run_events, settings, tmp_path):
    # urlopen would read (or write to) a local file for file:; a mistyped setting must fail instead.
    settings.SMS_BACKEND = "customers.notifications.backends.TwilioSmsBackend"
    settings.TWILIO_API_URL = f"file://{tmp_path}"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC1", "tok"
    run_events("plan_dispatched", plan_id=day_route["plan"].pk)
    sms = Notification.objects.get(order=day_route["orders"][0], channel="sms")
    assert (sms.status, sms.attempts) == ("failed", 1) and "not an http(s) URL" in sms.status_reason


def test_it_lists_an_orders_notifications_for_office_staff_of_its_depot(
    day_route, run_events, dispatcher_a_client, dispatcher_b_client, driver_client, anonymous_client
):
    run_events("plan_dispatched", plan_id=day_route["plan"].pk)
    url = f"/api/orders/{day_route['orders'][0].pk}/notifications/"
    response = dispatcher_a_client.get(url)
    assert response.status_code == 200
    rows = response.json()
    assert {(r["channel"], r["event"], r["status"]) for r in rows} == {
        ("email", "scheduled", "sent"),
        ("sms", "scheduled", "sent"),
    }
    assert all(r["sent_at"] and r["body"] for r in rows)
    assert dispatcher_b_client.get(url).status_code == 404
    assert driver_client.get(url).status_code == 403
    assert anonymous_client.get(url).status_code == 401
