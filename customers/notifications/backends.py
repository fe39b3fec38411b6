"""Channel backends: how a rendered Notification leaves the building (e-mail, SMS, webhook).

Each backend's `send(notification)` returns a provider id (or "") or raises:
TransientSendError (try again later: network, 5xx, 429) or PermanentSendError (never retry: a
rejected number, a 4xx). No backend touches the database: the caller records the outcome.
"""

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils.module_loading import import_string


class SendError(Exception):
    pass


class TransientSendError(SendError):
    pass


class PermanentSendError(SendError):
    pass


class UncertainSendError(SendError):
    """The request reached the provider but no answer came (read timeout, connection dropped): the
    message may have been sent. Never retried, since a retry could send it twice."""


def _post(url: str, data: bytes, headers: dict) -> tuple[int, bytes]:
    # urlopen also reads file: and ftp: URLs; a mistyped setting must not make it do that.
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise PermanentSendError(f"not an http(s) URL: {url[:100]}")
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        # The scheme is checked above (bandit B310).
        with urllib.request.urlopen(request, timeout=settings.NOTIFICATION_SEND_TIMEOUT_S) as response:  # nosec B310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        if exc.code == 429 or exc.code >= 500:
            raise TransientSendError(f"HTTP {exc.code} from {urllib.parse.urlsplit(url).netloc}") from None
        raise PermanentSendError(f"HTTP {exc.code}: {body[:200].decode(errors='replace')}") from None
    except urllib.error.URLError as exc:
        # Raised while connecting or sending the request: the provider has not acted on it.
        raise TransientSendError(f"{type(exc).__name__}: {exc.reason}") from None
    except (TimeoutError, ConnectionError) as exc:
        # Raised while waiting for the answer: the provider has the request and may have sent it.
        raise UncertainSendError(
            f"no answer from {urllib.parse.urlsplit(url).netloc} within {settings.NOTIFICATION_SEND_TIMEOUT_S} s "
            f"({type(exc).__name__})"
        ) from None


class EmailBackend:
    """Through Django's e-mail backend (SMTP in production, files under var/mail by default)."""

    def send(self, notification) -> str:
        message = EmailMessage(
            subject=notification.subject, body=notification.body, to=[notification.recipient], from_email=None
        )
        try:
            message.send(fail_silently=False)
        except (OSError, TimeoutError) as exc:  # smtplib errors are OSErrors: connection, refused, timeouts
            raise TransientSendError(f"{type(exc).__name__}: {exc}") from None
        return ""


class OutboxSmsBackend:
    """The embedded default: the message stays in the outbox (customers.Notification) only."""

    def send(self, notification) -> str:
        return "outbox"


class TwilioSmsBackend:
    """Twilio's Messages resource over plain HTTPS (no SDK): form-encoded POST with basic auth."""

    def send(self, notification) -> str:
        sid, auth = settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN
        if not sid or not auth:
            raise PermanentSendError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set")
        fields = {"To": notification.recipient, "Body": notification.body}
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            fields["MessagingServiceSid"] = settings.TWILIO_MESSAGING_SERVICE_SID
        else:
            fields["From"] = settings.TWILIO_FROM_NUMBER
        url = f"{settings.TWILIO_API_URL.rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"
        credentials = base64.b64encode(f"{sid}:{auth}".encode()).decode()
        headers = {
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
            # Twilio de-duplicates nothing itself; the outbox row's id makes our request traceable.
            "User-Agent": "last-mile-dispatch",
        }
        _status, body = _post(url, urllib.parse.urlencode(fields).encode(), headers)
        try:
            return str(json.loads(body).get("sid", ""))
        except ValueError:
            return ""


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", hex; receivers recompute and compare in constant time."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookBackend:
    """POST the notification as JSON to NOTIFICATION_WEBHOOK_URL, signed with NOTIFICATION_WEBHOOK_SECRET.

    Headers: X-Dispatch-Timestamp (unix seconds) and X-Dispatch-Signature: sha256=<hex>. The
    X-Dispatch-Delivery header (the outbox id) lets the receiver drop a repeat.
    """

    def send(self, notification) -> str:
        url = settings.NOTIFICATION_WEBHOOK_URL
        if not url:
            raise PermanentSendError("NOTIFICATION_WEBHOOK_URL is not set")
        body = json.dumps(
            {
                "id": notification.pk,
                "order": notification.order_id,
                "reference": notification.order.reference,
                "event": notification.event,
                "language": notification.language,
                "text": notification.body,
                "created_at": notification.created_at.isoformat(),
            }
        ).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Dispatch-Timestamp": timestamp,
            "X-Dispatch-Signature": "sha256="
            + webhook_signature(settings.NOTIFICATION_WEBHOOK_SECRET, timestamp, body),
            "X-Dispatch-Delivery": str(notification.pk),
        }
        _post(url, body, headers)
        return ""


def backend_for(channel: str):
    if channel == "email":
        return EmailBackend()
    if channel == "sms":
        return import_string(settings.SMS_BACKEND)()
    if channel == "webhook":
        return WebhookBackend()
    raise PermanentSendError(f"unknown channel {channel}")
