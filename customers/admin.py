"""Admin for customer-facing records.

Tracking links are read-only here: links are created by customers.tracking_links, and the nonce (from which
the token in the URL is derived) is never shown, so the admin cannot leak a customer's tracking page.
"""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import ngettext

from customers.models import CustomerMessage, Feedback, Notification, NotificationTemplate, TrackingLink


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


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(admin.ModelAdmin):
    """Managers edit what each event says, per channel and language (placeholders: see the model)."""

    list_display = ["event", "channel", "language", "subject", "updated_at"]
    list_filter = ["event", "channel", "language"]
    search_fields = ["subject", "body"]
    readonly_fields = ["updated_at", "placeholders"]
    fields = ["event", "channel", "language", "subject", "body", "placeholders", "updated_at"]

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
                from customers.services import notification_render_check

                cleaned = super().clean()
                notification_render_check(subject=cleaned.get("subject", ""), body=cleaned.get("body", ""))
                return cleaned

        return CheckedForm


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
