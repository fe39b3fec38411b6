"""Admin for customer-facing records.

Tracking links are read-only here: links are created by customers.services, and the nonce (from which
the token in the URL is derived) is never shown, so the admin cannot leak a customer's tracking page.
"""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import ngettext

from customers.models import TrackingLink


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
