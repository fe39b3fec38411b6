"""Admin for customer-facing records.

Tracking links are read-only here: links are created by customers.tracking_links, and the nonce (from which
the token in the URL is derived) is never shown, so the admin cannot leak a customer's tracking page.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from customers import rate_limits
from customers.admin_preview import (
    TemplateTestRefused,
    message_preview,
    sample_context,
    template_test_recipient,
    template_test_send,
)
from customers.models import (
    Channel,
    CustomerMessage,
    Event,
    Feedback,
    Notification,
    NotificationTemplate,
    TrackingLink,
)
from customers.notifications.backends import SendError
from customers.notifications.rendering import notification_render_check
from dispatch.audit import AuditedAdminMixin
from dispatch.roles import is_manager

# "Send a test to me": a handful per manager and quarter of an hour is plenty to check a wording,
# and keeps a stuck button (or a script) from flooding an inbox or the SMS bill.
TEST_SENDS_PER_WINDOW = 5
TEST_SEND_WINDOW_S = 15 * 60


class TrackingLinkStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        match self.value():
            case "active":
                return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
            case "expired":
                return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
            case "revoked":
                return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(TrackingLink)
class TrackingLinkAdmin(admin.ModelAdmin):
    list_display = ["order", "order_status", "created_at", "expires_at", "revoked_at", "is_active"]
    list_filter = [TrackingLinkStateFilter, "created_at"]
    list_select_related = ["order"]
    search_fields = ["order__reference", "order__customer_name", "order__email", "order__phone"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    # Never "nonce" or "digest": either would let someone rebuild or recognise the customer's link.
    fields = ["order", "created_at", "expires_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Nothing on a link is edited by hand; the change permission only unlocks the Revoke action.
        if obj is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Revoke instead: the row records that the link existed and when it was switched off.
        return False

    @admin.display(description="Order status", ordering="order__status")
    def order_status(self, link):
        return link.order.get_status_display()

    @admin.display(description="Active", boolean=True)
    def is_active(self, link):
        if link.revoked_at is not None:
            return False
        return link.expires_at is None or link.expires_at > timezone.now()

    @admin.action(description="Revoke selected tracking links", permissions=["change"])
    def revoke(self, request, queryset):
        # One conditional UPDATE: links revoked earlier keep their original revocation time.
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(
            request,
            ngettext("%d tracking link revoked.", "%d tracking links revoked.", revoked) % revoked,
            messages.SUCCESS,
        )


class TemplateTextForm(forms.Form):
    """What the preview and the test read from the editor: the template as typed, not yet saved."""

    event = forms.ChoiceField(choices=Event.choices)
    channel = forms.ChoiceField(choices=Channel.choices)
    language = forms.ChoiceField(choices=settings.LANGUAGES)
    subject = forms.CharField(required=False, max_length=200, strip=False)
    body = forms.CharField(required=False, strip=False)


def _form_errors(form: forms.Form) -> list[dict]:
    return [
        {"field": name, "value": form.data.get(name, ""), "message": " ".join(messages_)}
        for name, messages_ in form.errors.items()
    ]


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Managers edit what each event says, per channel and language (placeholders: see the model),
    with a preview filled with a sample order that follows their typing, and a test sent to themselves
    (customers.admin_preview)."""

    list_display = ["event", "channel", "language", "subject", "updated_at"]
    list_filter = ["event", "channel", "language"]
    search_fields = ["subject", "body"]
    readonly_fields = ["updated_at", "placeholders"]
    fields = ["event", "channel", "language", "subject", "body", "placeholders", "updated_at"]
    change_form_template = "admin/customers/notificationtemplate/change_form.html"

    class Media:
        js = ["js/admin_template_preview.js"]
        css = {"all": ["css/admin_widgets.css"]}

    @admin.display(description="Placeholders")
    def placeholders(self, obj):
        return (
            "{{ name }} {{ reference }} {{ date }} {{ window_start }} {{ window_end }} {{ driver_first_name }} "
            "{{ tracking_url }} {{ reason }} (failed) {{ recipient_name }} {{ delivered_at }} (delivered) "
            "{{ text }} (reply)"
        )

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class CheckedForm(form):
            def clean(self):
                cleaned = super().clean()
                notification_render_check(subject=cleaned.get("subject", ""), body=cleaned.get("body", ""))
                return cleaned

        return CheckedForm

    # --- Preview and test send -------------------------------------------------------------------

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("preview/", self.admin_site.admin_view(self.preview_view), name=f"{prefix}_preview"),
            path(
                "<path:object_id>/test-send/",
                self.admin_site.admin_view(self.test_send_view),
                name=f"{prefix}_test_send",
            ),
            *super().get_urls(),
        ]

    def _may_preview(self, request, obj=None) -> bool:
        # Managers only (the admin also lets in staff with model permissions, e.g. an IT account).
        return is_manager(request.user) and self.has_change_permission(request, obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        if self._may_preview(request, obj):
            extra_context["message_preview"] = self._preview_panel(request, obj)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _preview_panel(self, request, template) -> dict:
        sample = sample_context(
            event=template.event if template else "", language=template.language if template else ""
        )
        panel = {
            "preview": None,
            "preview_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_preview"),
            "test_send_url": "",
            "window": f"{sample['window_start']}–{sample['window_end']}",
            "time_zone": timezone.get_current_timezone_name(),
            "customer": sample["name"],
            "driver": sample["driver_first_name"],
            "recipient": "",
            "refusal": "",
        }
        if template is None:
            return panel
        panel["preview"] = message_preview(
            event=template.event,
            channel=template.channel,
            language=template.language,
            subject=template.subject,
            body=template.body,
        )
        panel["test_send_url"] = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_test_send", args=[quote(template.pk)]
        )
        try:
            panel["recipient"] = template_test_recipient(user=request.user, channel=template.channel)
        except TemplateTestRefused as exc:
            panel["refusal"] = str(exc)
        return panel

    def preview_view(self, request):
        """POST event, channel, language, subject, body: the sample message as JSON, with its HTML."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self._may_preview(request):
            raise PermissionDenied
        form = TemplateTextForm(request.POST)
        if not form.is_valid():
            return JsonResponse(
                {"detail": _("The preview needs the template's fields."), "errors": _form_errors(form)}, status=400
            )
        preview = message_preview(**form.cleaned_data)
        html = render_to_string(
            "admin/customers/notificationtemplate/message_preview.html", {"preview": preview}, request=request
        )
        return JsonResponse({**preview.as_json(), "html": html})

    def test_send_view(self, request, object_id):
        """POST the editor's subject and body: sends the sample to the manager, once per request."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        template = self.get_object(request, unquote(object_id))
        if template is None:
            raise Http404("No such template")
        if not self._may_preview(request, template):
            raise PermissionDenied
        data = {"event": template.event, "channel": template.channel, "language": template.language}
        data.update({name: request.POST.get(name, getattr(template, name)) for name in ("subject", "body")})
        form = TemplateTextForm(data)
        if not form.is_valid():
            return JsonResponse(
                {"detail": _("The template's text is not valid."), "errors": _form_errors(form)}, status=400
            )
        try:
            recipient = template_test_recipient(user=request.user, channel=template.channel)
        except TemplateTestRefused as exc:
            return JsonResponse({"detail": str(exc), "errors": []}, status=400)
        allowed, retry_in = rate_limits.hit(
            f"template-test-send:{request.user.pk}", limit=TEST_SENDS_PER_WINDOW, window_s=TEST_SEND_WINDOW_S
        )
        if not allowed:
            detail = _("You sent %(count)s tests in the last %(minutes)s minutes; try again in %(seconds)s s.") % {
                "count": TEST_SENDS_PER_WINDOW, "minutes": TEST_SEND_WINDOW_S // 60, "seconds": retry_in,
            }  # fmt: skip
            response = JsonResponse({"detail": detail, "errors": []}, status=429)
            response["Retry-After"] = str(retry_in)
            return response
        channel = template.get_channel_display()
        try:
            sent = template_test_send(user=request.user, **form.cleaned_data)
        except TemplateTestRefused as exc:
            return JsonResponse({"detail": str(exc), "errors": []}, status=400)
        except SendError as exc:
            # The history says what was tried, also when the provider refused it.
            self.log_change(request, template, f"Test {template.channel} to {recipient} failed: {exc}")
            detail = _("The %(channel)s backend did not send it: %(error)s") % {"channel": channel, "error": exc}
            return JsonResponse({"detail": detail, "errors": []}, status=502)
        # Recorded in the template's history (LogEntry): who sent which test where.
        self.log_change(request, template, f"Sent a test {sent.channel} to {sent.recipient}.")
        detail = _("Sent to %(recipient)s by %(channel)s.") % {"recipient": sent.recipient, "channel": channel}
        return JsonResponse({"detail": detail, "channel": sent.channel, "recipient": sent.recipient})


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """The outbox: every message the customers were sent (or why not), read-only."""

    list_display = ["created_at", "order", "event", "channel", "recipient", "status", "attempts", "sent_at"]
    list_filter = ["status", "channel", "event", "language", "created_at"]
    list_select_related = ["order"]
    search_fields = ["order__reference", "recipient", "body"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Notification._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # the communication log is evidence of what the customer was told


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["order", "rating", "comment", "updated_at"]
    list_filter = ["rating", "updated_at"]
    list_select_related = ["order"]
    search_fields = ["order__reference", "comment"]
    readonly_fields = ["order", "rating", "comment", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False


@admin.register(CustomerMessage)
class CustomerMessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "order", "direction", "text", "author", "read_at"]
    list_filter = ["direction", "created_at"]
    list_select_related = ["order", "author"]
    search_fields = ["order__reference", "text"]
    readonly_fields = ["order", "direction", "text", "author", "created_at", "read_at"]

    def has_add_permission(self, request):
        return False  # replies go through the inbox, which also sends them
