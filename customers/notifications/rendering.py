"""What a message says: the managers' template (or the shipped default) filled in for one order."""

from datetime import datetime

from django.conf import settings
from django.template import Context, Engine
from django.utils import timezone

from customers.models import Channel, NotificationTemplate, PromisedWindow, TrackingLink
from customers.notifications.texts import DEFAULT_TEMPLATES
from customers.tracking_links import tracking_url
from dispatch.models import Order

_ENGINE = Engine(autoescape=False)  # plain-text messages: nothing is HTML-escaped


def local_time(moment: datetime | None) -> datetime | None:
    return timezone.localtime(moment) if moment else None


def hhmm(moment) -> str:
    return local_time(moment).strftime("%H:%M") if moment else ""


def day_label(day, language: str) -> str:
    return day.strftime("%d.%m.%Y") if language == "de" else day.strftime("%d %b %Y")


def customer_language(order: Order) -> str:
    language = order.customer.language if order.customer_id else settings.DEFAULT_CUSTOMER_LANGUAGE
    return language if language in dict(settings.LANGUAGES) else "en"


def notification_render(*, event: str, channel: str, language: str, context: dict) -> tuple[str, str]:
    """(subject, body) from the managers' template, or the shipped default when there is none."""
    template = NotificationTemplate.objects.filter(event=event, channel=channel, language=language).first()
    if template is None and channel == Channel.WEBHOOK:
        template = NotificationTemplate.objects.filter(event=event, channel=Channel.SMS, language=language).first()
    if template is not None:
        subject, body = template.subject, template.body
    else:
        fallback = Channel.SMS if channel == Channel.WEBHOOK else channel
        subject, body = DEFAULT_TEMPLATES.get((event, fallback, language)) or DEFAULT_TEMPLATES[(event, fallback, "en")]
    rendered_subject = _ENGINE.from_string(subject).render(Context(context)).strip().replace("\n", " ")
    return rendered_subject, _ENGINE.from_string(body).render(Context(context)).strip()


def notification_render_check(*, subject: str, body: str) -> None:
    """Refuse a template that does not parse (a manager's typo must not break every message)."""
    from django.core.exceptions import ValidationError
    from django.template import TemplateSyntaxError

    try:
        _ENGINE.from_string(subject)
        _ENGINE.from_string(body)
    except TemplateSyntaxError as exc:
        raise ValidationError(f"Template error: {exc}") from None


def message_context(order: Order, link: TrackingLink, language: str, extra: dict) -> dict:
    """The placeholders of NotificationTemplate for this order: the window is the promise when
    there is one (what the customer was told last), else the order's own window."""
    promise = PromisedWindow.objects.filter(order=order).first()
    start = promise.start if promise else order.window_start
    end = promise.end if promise else order.window_end
    name = (order.customer.name if order.customer_id and order.customer.name else order.customer_name) or ""
    return {
        "name": name or ("Kundin, Kunde" if language == "de" else "there"),
        "reference": order.reference,
        "date": day_label(order.date, language),
        "window_start": hhmm(start),
        "window_end": hhmm(end),
        "tracking_url": tracking_url(link),
        "driver_first_name": "",
        **extra,
    }
