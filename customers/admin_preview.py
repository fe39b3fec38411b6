"""The template editor's preview and "Send a test to me" (customers/admin.py).

A preview fills the template being edited (not yet saved) with a sample that reads like a real
message: an order for tomorrow with a 10:00–12:00 window in the company's time zone, a driver of
the company, a tracking link as long as a real one (an SMS's length depends on it). A test goes to
the manager's own address through the same channel backend customers' messages use, so it shows
what the SMTP server or the SMS provider does with it; it is no Notification row (those belong to
an order, and the communication log is the customers'), the admin's history records it instead.
"""

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.template import Context, Engine, TemplateSyntaxError
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Channel, Event, Notification, TrackingLink
from customers.notifications.backends import backend_for
from customers.notifications.rendering import day_label, hhmm
from customers.notifications.texts import FAILURE_REASONS, RESCHEDULE_REASONS
from customers.tracking_links import tracking_url
from dispatch.models import Driver

# The same engine settings as customers' rendering: plain text, nothing HTML-escaped.
_ENGINE = Engine(autoescape=False)

SAMPLE_CUSTOMER = "Anna Schädler"
SAMPLE_DRIVER_FIRST_NAME = "Lukas"  # when the company has no driver yet
SAMPLE_WINDOW = (time(10, 0), time(12, 0))
SAMPLE_NONCE = bytes(range(16))  # any 16 bytes: the token has a real token's length
SAMPLE_REPLY = {
    "en": "Yes, you can leave it with the neighbour at number 12.",
    "de": "Ja, Sie können es beim Nachbarn in Nummer 12 abgeben.",
}

# GSM 03.38: the basic alphabet (one septet each) and its extension table (two septets each).
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsLength:
    """How an SMS travels: GSM-7 (160 characters, 153 per part when split) or, as soon as one
    character is outside GSM-7 (an en dash, an emoji), UCS-2 (70, and 67 per part)."""

    characters: int
    encoding: str
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int
    non_gsm: str = ""  # the characters that forced UCS-2

    @classmethod
    def of(cls, text: str) -> "SmsLength":
        outside = [c for c in text if c not in GSM_BASIC and c not in GSM_EXTENSION]
        if outside:
            units = len(text.encode("utf-16-le")) // 2
            single, multi, encoding = 70, 67, "UCS-2"
        else:
            units = sum(2 if c in GSM_EXTENSION else 1 for c in text)
            single, multi, encoding = 160, 153, "GSM-7"
        segments = 0 if units == 0 else 1 if units <= single else math.ceil(units / multi)
        return cls(
            characters=len(text),
            encoding=encoding,
            units=units,
            segments=segments,
            per_segment=single if segments <= 1 else multi,
            non_gsm="".join(dict.fromkeys(outside)),
        )


@dataclass
class MessagePreview:
    event: str
    channel: str
    language: str
    subject: str = ""
    body: str = ""
    error: str = ""
    sms: SmsLength | None = None
    webhook_payload: str = ""
    sample: dict = field(default_factory=dict)

    @property
    def channel_label(self) -> str:
        return Channel(self.channel).label if self.channel in Channel.values else self.channel

    def as_json(self) -> dict:
        return {
            "event": self.event,
            "channel": self.channel,
            "language": self.language,
            "subject": self.subject,
            "body": self.body,
            "error": self.error,
            "sms": None
            if self.sms is None
            else {
                "characters": self.sms.characters,
                "encoding": self.sms.encoding,
                "segments": self.sms.segments,
                "per_segment": self.sms.per_segment,
                "non_gsm": self.sms.non_gsm,
            },
            "webhook_payload": self.webhook_payload,
        }


def _sample_driver_first_name() -> str:
    driver = Driver.objects.filter(active=True).order_by("name").only("name").first()
    return (driver.first_name if driver else "") or SAMPLE_DRIVER_FIRST_NAME


def sample_context(*, event: str, language: str, now: datetime | None = None) -> dict:
    """Every placeholder of NotificationTemplate, filled as for a real order of tomorrow."""
    now = timezone.localtime(now or timezone.now())
    day = now.date() + timedelta(days=1)
    zone = timezone.get_current_timezone()
    start, end = (datetime.combine(day, moment, tzinfo=zone) for moment in SAMPLE_WINDOW)
    language = language if language in FAILURE_REASONS else "en"
    return {
        "name": SAMPLE_CUSTOMER,
        "reference": f"LI-{day:%Y%m%d}-0042",
        "date": day_label(day, language),
        "window_start": hhmm(start),
        "window_end": hhmm(end),
        "tracking_url": tracking_url(TrackingLink(nonce=SAMPLE_NONCE)),
        "driver_first_name": _sample_driver_first_name(),
        "reason": (
            RESCHEDULE_REASONS[language]["closed_road"]
            if event == Event.RESCHEDULED
            else FAILURE_REASONS[language]["not_home"]
        ),
        "recipient_name": "A. Schädler",
        "delivered_at": hhmm(start + timedelta(minutes=37)),
        "text": SAMPLE_REPLY[language],
    }


def render_text(*, subject: str, body: str, context: dict) -> tuple[str, str]:
    """(subject, body) as customers' rendering makes them; raises TemplateSyntaxError."""
    rendered_subject = _ENGINE.from_string(subject).render(Context(context)).strip().replace("\n", " ")
    return rendered_subject, _ENGINE.from_string(body).render(Context(context)).strip()


def message_preview(*, event: str, channel: str, language: str, subject: str, body: str) -> MessagePreview:
    """The template's text filled with the sample; a template error is reported, not raised."""
    context = sample_context(event=event, language=language)
    preview = MessagePreview(event=event, channel=channel, language=language, sample=context)
    try:
        preview.subject, preview.body = render_text(subject=subject, body=body, context=context)
    except TemplateSyntaxError as exc:
        preview.error = _("Template error: %(error)s") % {"error": exc}
        return preview
    if channel == Channel.EMAIL:
        preview.sms = None
    else:
        preview.subject = ""  # only e-mails have one
        preview.sms = SmsLength.of(preview.body) if channel == Channel.SMS else None
    if channel == Channel.WEBHOOK:
        preview.webhook_payload = json.dumps(
            {
                "id": 0,
                "order": 0,
                "reference": context["reference"],
                "event": event,
                "language": language,
                "text": preview.body,
                "created_at": timezone.now().replace(microsecond=0).isoformat(),
            },
            ensure_ascii=False,
            indent=2,
        )
    return preview


# --- A test sent to oneself ------------------------------------------------------------------------


class TemplateTestRefused(Exception):
    """Why no test could be sent (no address for the channel, a template error); shown as is."""


def staff_phone(user) -> str:
    """The manager's own phone, if the user has one (a custom user model's field, or their driver profile)."""
    phone = getattr(user, "phone", "") or ""
    if not phone:
        driver = Driver.objects.filter(user=user).only("phone").first()
        phone = driver.phone if driver else ""
    return phone.strip()


def template_test_recipient(*, user, channel: str) -> str:
    """Where a test of `channel` goes for this user; TemplateTestRefused says what is missing."""
    if channel == Channel.EMAIL:
        email = (user.email or "").strip()
        if not email:
            raise TemplateTestRefused(
                _(
                    "Your account has no e-mail address, so no test can be sent to you. Add one to your user "
                    "(or ask an administrator to), then try again."
                )
            )
        return email
    if channel == Channel.SMS:
        phone = staff_phone(user)
        if not phone:
            raise TemplateTestRefused(
                _(
                    "Your account has no phone number, so no test SMS can be sent to you. The preview shows the "
                    "text and its length; the e-mail templates can be tested to your e-mail address."
                )
            )
        return phone
    raise TemplateTestRefused(
        _("Webhook messages go to your company's system, not to a person: the preview shows what it receives.")
    )


@dataclass(frozen=True)
class TemplateTestSent:
    channel: str
    recipient: str
    provider_id: str


def template_test_send(*, user, event: str, channel: str, language: str, subject: str, body: str) -> TemplateTestSent:
    """Send the sample message to the user through the channel's real backend (outside any transaction).

    Raises TemplateTestRefused (nothing sent) or customers.notifications.backends.SendError (the backend failed).
    """

    recipient = template_test_recipient(user=user, channel=channel)
    preview = message_preview(event=event, channel=channel, language=language, subject=subject, body=body)
    if preview.error:
        raise TemplateTestRefused(preview.error)
    # An unsaved row: the backends read recipient, subject and body only (e-mail and SMS).
    message = Notification(
        event=event,
        channel=channel,
        language=language,
        recipient=recipient,
        subject=f"[Test] {preview.subject}" if channel == Channel.EMAIL else "",
        body=preview.body,
    )
    provider_id = backend_for(channel).send(message) or ""
    return TemplateTestSent(channel=channel, recipient=recipient, provider_id=provider_id)
