"""The notification template editor: a preview filled with a sample order, and a test sent to oneself."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import Client
from django.urls import reverse

import customers.admin
from customers.admin_preview import SmsLength, sample_context
from customers.models import NotificationTemplate
from dispatch.models import Driver
from tests.conftest import PASSWORD

PREVIEW_URL = reverse("admin:customers_notificationtemplate_preview")
SENT_SMS: list = []


class RecordingSmsBackend:
    """An SMS provider that keeps what it was asked to send."""

    def send(self, notification) -> str:
        SENT_SMS.append((notification.recipient, notification.body))
        return f"SM{len(SENT_SMS):04d}"


@pytest.fixture(autouse=True)
def recorded_sms(settings):
    SENT_SMS.clear()
    settings.SMS_BACKEND = "tests.customers.test_admin_template_preview.RecordingSmsBackend"
    yield SENT_SMS
    SENT_SMS.clear()


@pytest.fixture
def manager_web(manager):
    manager.email = "mia.manager@example.com"
    manager.save()
    client = Client()
    client.force_login(manager)
    return client


def _template(event="scheduled", channel="email", language="de") -> NotificationTemplate:
    return NotificationTemplate.objects.get(event=event, channel=channel, language=language)


def _change_url(template) -> str:
    return reverse("admin:customers_notificationtemplate_change", args=[template.pk])


def _test_send_url(template) -> str:
    return reverse("admin:customers_notificationtemplate_test_send", args=[template.pk])


def _fields(template, **edits) -> dict:
    data = {name: getattr(template, name) for name in ("event", "channel", "language", "subject", "body")}
    data.update(edits)
    return data


# --- The preview ---------------------------------------------------------------------------------


def test_it_shows_the_manager_the_saved_template_filled_with_a_sample_order(manager_web, driver_a):
    template = _template("out_for_delivery", "email", "de")
    response = manager_web.get(_change_url(template))
    assert response.status_code == 200
    preview = response.context["message_preview"]["preview"]
    assert preview.subject == "Ihre Lieferung " + preview.sample["reference"] + " ist unterwegs"
    assert preview.sample["reference"].startswith("LI-") and preview.sample["driver_first_name"] == "Dana"
    assert "Dana ist mit Ihrer Lieferung" in preview.body and "zwischen 10:00 und 12:00 Uhr" in preview.body
    assert "https://track.example.com/t/" in preview.body  # the company's real link format
    page = response.content.decode()
    assert "Preview with a sample order" in page and "data-preview-body" in page
    assert "Europe/Vaduz" in page and "Send a test to me" in page
    assert "to mia.manager@example.com" in page


def test_it_previews_the_text_as_typed_for_each_channel(manager_web):
    email = _template("scheduled", "email", "en")
    answer = manager_web.post(
        PREVIEW_URL, _fields(email, subject="{{ reference }} on {{ date }}", body="Hi {{ name }}, {{ window_start }}")
    ).json()
    assert answer["subject"].startswith("LI-") and " on " in answer["subject"]
    assert answer["body"] == "Hi Anna Schädler, 10:00"
    assert answer["sms"] is None and "data-preview-subject" in answer["html"]

    sms = _template("scheduled", "sms", "de")
    answer = manager_web.post(PREVIEW_URL, _fields(sms)).json()
    assert answer["subject"] == "" and "zwischen 10:00 und 12:00 Uhr" in answer["body"]
    assert answer["sms"]["encoding"] == "GSM-7" and answer["sms"]["segments"] == 1
    assert f"{len(answer['body'])} characters" in answer["html"]

    long_body = sms.body + " Bei Fragen: 0800 123 456 – wir helfen gern."  # the en dash is not GSM-7
    answer = manager_web.post(PREVIEW_URL, _fields(sms, body=long_body)).json()
    assert answer["sms"]["encoding"] == "UCS-2" and answer["sms"]["non_gsm"] == "–"
    assert answer["sms"]["segments"] == 3 and answer["sms"]["per_segment"] == 67
    assert "outside the GSM alphabet" in answer["html"]


def test_it_shows_a_template_error_instead_of_a_preview(manager_web):
    answer = manager_web.post(PREVIEW_URL, _fields(_template(), body="Hallo {% if %}{{ name }}")).json()
    assert answer["error"].startswith("Template error:") and answer["body"] == ""
    assert "data-preview-error" in answer["html"]


def test_it_escapes_the_typed_text_in_the_preview_html(manager_web):
    answer = manager_web.post(PREVIEW_URL, _fields(_template(), body="<img src=x onerror=alert(1)>")).json()
    assert "<img" not in answer["html"] and "&lt;img" in answer["html"]


def test_the_sample_day_and_window_are_the_company_s_local_ones(db):
    vaduz = ZoneInfo("Europe/Vaduz")
    # 00:20 in Vaduz is still the previous day in UTC: "tomorrow" must be counted from the local day.
    context = sample_context(event="scheduled", language="de", now=datetime(2026, 5, 5, 0, 20, tzinfo=vaduz))
    assert context["date"] == "06.05.2026"
    assert (context["window_start"], context["window_end"]) == ("10:00", "12:00")
    context = sample_context(event="failed", language="en", now=datetime(2026, 10, 24, 23, 40, tzinfo=vaduz))
    assert context["date"] == "25 Oct 2026"  # the day clocks fall back: still a 10:00 window
    assert context["window_start"] == "10:00" and context["reason"] == "nobody was at home"


@pytest.mark.parametrize(
    "text, encoding, segments",
    [
        ("", "GSM-7", 0),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("ä" * 153 * 2, "GSM-7", 2),
        ("€" * 80, "GSM-7", 1),  # the extension table: two septets each
        ("€" * 81, "GSM-7", 2),
        ("–" * 70, "UCS-2", 1),
        ("–" * 71, "UCS-2", 2),
        ("📦" * 35, "UCS-2", 1),  # an emoji is two UTF-16 units
    ],
)
def test_it_counts_sms_parts_as_providers_bill_them(text, encoding, segments):
    length = SmsLength.of(text)
    assert (length.encoding, length.segments) == (encoding, segments)


# --- Send a test to me ---------------------------------------------------------------------------


def test_it_sends_the_typed_email_to_the_manager_once_per_click_and_records_it(manager_web, manager):
    template = _template("scheduled", "email", "de")
    saved_body = template.body
    response = manager_web.post(
        _test_send_url(template), {"subject": "Neu: {{ reference }}", "body": "Hallo {{ name }}"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["recipient"] == "mia.manager@example.com"
    (message,) = mail.outbox
    assert message.to == ["mia.manager@example.com"]
    assert message.subject.startswith("[Test] Neu: LI-") and message.body == "Hallo Anna Schädler"
    template.refresh_from_db()
    assert template.body == saved_body  # a test saves nothing
    entry = LogEntry.objects.get(object_id=str(template.pk))
    assert entry.user == manager and "Sent a test email to mia.manager@example.com" in entry.get_change_message()

    manager_web.post(_test_send_url(template), {"subject": "Neu", "body": "Noch einmal"})
    assert len(mail.outbox) == 2 and LogEntry.objects.filter(object_id=str(template.pk)).count() == 2


def test_it_sends_an_sms_test_to_the_manager_s_phone(manager_web, manager, depot_a, recorded_sms):
    Driver.objects.create(user=manager, name="Mia Manager", phone="+423 790 00 00", depot=depot_a)
    template = _template("arriving_soon", "sms", "en")
    response = manager_web.post(_test_send_url(template), {"body": template.body})
    assert response.status_code == 200, response.content
    ((recipient, body),) = recorded_sms
    assert recipient == "+423 790 00 00" and body.startswith("You are next:") and "https://track.example.com/t/" in body
    assert not mail.outbox


def test_it_says_clearly_when_the_manager_has_no_email_or_no_phone(manager_web, manager, recorded_sms):
    manager.email = ""
    manager.save()
    template = _template("scheduled", "email", "en")
    page = manager_web.get(_change_url(template)).content.decode()
    assert "Your account has no e-mail address" in page
    response = manager_web.post(_test_send_url(template), {"subject": "x", "body": "y"})
    assert response.status_code == 400 and "no e-mail address" in response.json()["detail"]
    response = manager_web.post(_test_send_url(_template("scheduled", "sms", "en")), {"body": "y"})
    assert response.status_code == 400 and "no phone number" in response.json()["detail"]
    assert not mail.outbox and not recorded_sms and not LogEntry.objects.exists()


def test_it_refuses_a_test_of_a_broken_template(manager_web):
    response = manager_web.post(_test_send_url(_template()), {"subject": "x", "body": "{% if %}"})
    assert response.status_code == 400 and "Template error" in response.json()["detail"]
    assert not mail.outbox


def test_it_limits_how_many_tests_a_manager_sends(manager_web, monkeypatch):
    monkeypatch.setattr(customers.admin, "TEST_SENDS_PER_WINDOW", 2)
    template = _template()
    statuses = [manager_web.post(_test_send_url(template), {"subject": "s", "body": "b"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert len(mail.outbox) == 2


def test_it_reports_a_backend_that_fails(manager_web, manager, depot_a, settings):
    settings.SMS_BACKEND = "tests.customers.flaky_backends.AlwaysDownSmsBackend"
    Driver.objects.create(user=manager, name="Mia Manager", phone="+423 790 00 00", depot=depot_a)
    template = _template("scheduled", "sms", "de")
    response = manager_web.post(_test_send_url(template), {"body": "Test"})
    assert response.status_code == 502 and "connection refused (forced)" in response.json()["detail"]
    assert "failed" in LogEntry.objects.get(object_id=str(template.pk)).get_change_message()


def test_it_only_takes_posts(manager_web):
    assert manager_web.get(PREVIEW_URL).status_code == 405
    assert manager_web.get(_test_send_url(_template())).status_code == 405


# --- Who may ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["dispatcher_a", "driver_a"])
def test_it_sends_dispatchers_and_drivers_to_the_admin_login(db, request, persona):  # db: the seeded templates
    user = request.getfixturevalue(persona)
    user = getattr(user, "user", user)
    user.email = "someone@example.com"
    user.save()
    client = Client()
    client.force_login(user)
    template = _template()
    for response in (
        client.post(PREVIEW_URL, _fields(template)),
        client.post(_test_send_url(template), {"subject": "s", "body": "b"}),
    ):
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert not mail.outbox


def test_it_refuses_staff_who_are_not_managers_even_with_the_model_permission(db):
    clerk = get_user_model().objects.create_user(
        username="clerk", password=PASSWORD, is_staff=True, email="clerk@example.com"
    )
    clerk.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_notificationtemplate", "change_notificationtemplate"])
    )
    client = Client()
    client.force_login(clerk)
    template = _template()
    response = client.get(_change_url(template))
    assert response.status_code == 200 and "message_preview" not in response.context
    assert client.post(PREVIEW_URL, _fields(template)).status_code == 403
    assert client.post(_test_send_url(template), {"subject": "s", "body": "b"}).status_code == 403
    assert not mail.outbox
