"""The admin site for managers: fleet, zones, customers and orders.

Order statuses never change here by editing a field: the status is read-only and the actions call
dispatch.orders.services (order_change_status and friends), which validate each move and record who made it.
Changelists select their foreign keys up front so a day with 10k orders stays a handful of queries.
"""

import secrets
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import models
from django.db.models import Count, Q
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from config.admin_widgets import HEX_COLOR, HexColorField
from dispatch.admin_widgets import ZonePolygonField
from dispatch.audit import AppendOnlyAdminMixin, AuditedAdminMixin
from dispatch.fleet.services import vehicles_set_available
from dispatch.models import (
    CourierPartner,
    Customer,
    Depot,
    Driver,
    Handoff,
    Order,
    OrderStatusChange,
    Vehicle,
    Zone,
)
from dispatch.orders.services import orders_bulk_change_status, orders_move_to_date
from dispatch.roles import DISPATCHER, DRIVER

admin.site.site_header = "Dispatch administration"
admin.site.site_title = "Dispatch admin"
admin.site.index_title = "Fleet, customers and orders"

# How many skipped orders an action names one by one before summing up the rest.
SKIPPED_SHOWN = 20
# How many of the selected orders the move-to-date page lists before "…".
MOVE_PREVIEW_SHOWN = 50


def _report_skipped(modeladmin, request, skipped, verb: str) -> None:
    if not skipped:
        return
    lines = [reason for _order, reason in skipped[:SKIPPED_SHOWN]]
    if len(skipped) > SKIPPED_SHOWN:
        lines.append(f"… and {len(skipped) - SKIPPED_SHOWN} more")
    modeladmin.message_user(
        request,
        ngettext(
            "%(count)d order was not %(verb)s: %(reasons)s",
            "%(count)d orders were not %(verb)s: %(reasons)s",
            len(skipped),
        )
        % {"count": len(skipped), "verb": verb, "reasons": "; ".join(lines)},
        messages.WARNING,
    )


# --- Depots, zones, fleet ------------------------------------------------------------------------


@admin.register(Depot)
class DepotAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["code", "name", "address", "opens", "closes", "is_micro_hub", "vehicle_count", "driver_count"]
    list_filter = ["is_micro_hub"]
    search_fields = ["code", "name", "address"]
    ordering = ["code"]
    filter_horizontal = ["dispatchers"]
    fieldsets = [
        (None, {"fields": ["code", "name", "address", "is_micro_hub"]}),
        ("Location", {"fields": ["lat", "lon"]}),
        ("Opening hours", {"fields": ["opens", "closes"]}),
        ("Dispatchers", {"fields": ["dispatchers"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                vehicle_count=Count("vehicles", distinct=True),
                driver_count=Count("drivers", distinct=True),
            )
        )

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "dispatchers":
            # Only members of the dispatcher group are scoped by depot (see dispatch.roles).
            kwargs["queryset"] = db_field.related_model.objects.filter(groups__name=DISPATCHER).order_by("username")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description="Vehicles", ordering="vehicle_count")
    def vehicle_count(self, depot):
        return depot.vehicle_count

    @admin.display(description="Drivers", ordering="driver_count")
    def driver_count(self, depot):
        return depot.driver_count


# Stands in for a refused polygon on a new zone while its form is shown again (ZoneForm.clean).
UNSAVED_POLYGON = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 1], [0, 0]]]}


class ZoneForm(forms.ModelForm):
    """The area drawn on a map (dispatch.admin_widgets) and the colour from the browser's picker."""

    polygon = ZonePolygonField(label=_("Polygon"), help_text=_("Stored as a GeoJSON Polygon, [lon, lat] positions."))
    color = HexColorField(label=_("Colour"), help_text=_("How the zone is drawn on the maps."))

    class Meta:
        model = Zone
        fields = ["code", "name", "depot", "color", "polygon", "access_time_s"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The map shows the depots and the other zones for bearings (a handful of rows each).
        widget = self.fields["polygon"].widget
        widget.depots = Depot.objects.only("code", "name", "address", "opens", "closes", "lat", "lon")
        widget.other_zones = Zone.objects.exclude(pk=self.instance.pk).only("code", "name", "color", "polygon")
        posted = self.data.get(self.add_prefix("color"), "") if self.is_bound else ""
        widget.color = next(
            (c for c in (posted, self.initial.get("color")) if c and HEX_COLOR.match(c)),
            Zone._meta.get_field("color").default,
        )

    def clean(self):
        cleaned = super().clean()
        if self.has_error("polygon") and not isinstance(self.instance.polygon, dict):
            # Zone.clean checks the polygon once more after this form; with the field refused, a new
            # zone has none, and Zone.clean would add a vaguer error next to the field's precise one.
            # The form is invalid, so this stand-in is never saved.
            self.instance.polygon = UNSAVED_POLYGON
        return cleaned


@admin.register(Zone)
class ZoneAdmin(AuditedAdminMixin, admin.ModelAdmin):
    # Zone.clean (dispatch.geometry) still runs after the form's own checks of the polygon.
    form = ZoneForm
    list_display = ["code", "name", "depot", "access_time_s", "color_swatch"]
    list_filter = ["depot"]
    list_select_related = ["depot"]
    search_fields = ["code", "name"]
    ordering = ["code"]
    autocomplete_fields = ["depot"]
    fieldsets = [
        (None, {"fields": ["code", "name", "depot", "color"]}),
        ("Area", {"fields": ["polygon"]}),
        ("Stops in this zone", {"fields": ["access_time_s"]}),
    ]

    @admin.display(description="Colour", ordering="color")
    def color_swatch(self, zone):
        return format_html(
            '<span style="display:inline-block;width:1em;height:1em;background:{};border:1px solid #888"></span> {}',
            zone.color,
            zone.color,
        )


@admin.register(Vehicle)
class VehicleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "depot",
        "kind",
        "capacity_kg",
        "capacity_items",
        "capacity_volume_l",
        "shift",
        "cost_per_km",
        "cost_per_hour",
        "fixed_cost",
        "skill_list",
        "max_trips",
        "available",
    ]
    list_filter = ["available", "kind", "depot"]
    list_select_related = ["depot"]
    search_fields = ["name", "depot__code", "depot__name"]
    ordering = ["depot__code", "name"]
    autocomplete_fields = ["depot"]
    filter_horizontal = ["allowed_zones", "reload_hubs"]
    actions = ["mark_unavailable", "mark_available"]
    fieldsets = [
        (None, {"fields": ["name", "depot", "kind", "available"]}),
        ("Capacity", {"fields": ["capacity_kg", "capacity_items", "capacity_volume_l"]}),
        ("Shift", {"fields": ["shift_start", "shift_end"]}),
        ("Costs", {"fields": ["cost_per_km", "cost_per_hour", "fixed_cost"]}),
        ("Skills and territory", {"fields": ["skills", "allowed_zones"]}),
        (_("Trips and reloads"), {"fields": ["max_trips", "reload_minutes", "reload_hubs"]}),
        (_("Drone"), {"fields": ["flight_speed_kmh", "range_km"]}),
    ]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "reload_hubs":
            # Only micro-hubs are offered; a depot that is not one (a stale form, a crafted post) is
            # refused on this field by name rather than as an anonymous "invalid choice".
            kwargs["queryset"] = Depot.objects.filter(is_micro_hub=True).order_by("code")
            kwargs["error_messages"] = {
                "invalid_choice": _("Reload hubs must be micro-hubs: depot %(value)s is not a micro-hub"),
            }
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description="Shift", ordering="shift_start")
    def shift(self, vehicle):
        return f"{vehicle.shift_start:%H:%M}–{vehicle.shift_end:%H:%M}"

    @admin.display(description="Skills")
    def skill_list(self, vehicle):
        return ", ".join(vehicle.skills or []) or "—"

    @admin.action(description="Mark selected vehicles unavailable", permissions=["change"])
    def mark_unavailable(self, request, queryset):
        updated = vehicles_set_available(vehicles=queryset, available=False, by=request.user)
        self.message_user(
            request,
            ngettext("%d vehicle marked unavailable.", "%d vehicles marked unavailable.", updated) % updated,
            messages.SUCCESS,
        )

    @admin.action(description="Mark selected vehicles available", permissions=["change"])
    def mark_available(self, request, queryset):
        updated = vehicles_set_available(vehicles=queryset, available=True, by=request.user)
        self.message_user(
            request,
            ngettext("%d vehicle marked available.", "%d vehicles marked available.", updated) % updated,
            messages.SUCCESS,
        )


@admin.register(Driver)
class DriverAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "depot", "vehicle", "phone", "active"]
    list_filter = ["active", "depot"]
    list_select_related = ["user", "depot", "vehicle"]
    search_fields = ["name", "phone", "user__username", "vehicle__name"]
    ordering = ["name"]
    autocomplete_fields = ["depot", "vehicle"]
    fieldsets = [
        (None, {"fields": ["name", "user", "phone", "active"]}),
        ("Assignment", {"fields": ["depot", "vehicle"]}),
    ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            # A plain list of driver logins: managers hold no permissions on auth users, so the
            # user autocomplete (which checks them) would refuse them. New logins come from the API.
            kwargs["queryset"] = db_field.related_model.objects.filter(groups__name=DRIVER).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# --- Courier partners ---------------------------------------------------------------------------


@admin.register(CourierPartner)
class CourierPartnerAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Local courier firms. The webhook secret is made here, never typed (nor written in the audit log)."""

    list_display = [
        "code",
        "name",
        "contact_name",
        "contact_phone",
        "price_per_stop",
        "capacity_stops",
        "cutoff",
        "shares_position",
        "active",
    ]
    list_filter = ["active", "shares_position"]
    search_fields = ["code", "name", "contact_name", "contact_email"]
    ordering = ["code"]
    filter_horizontal = ["zones"]
    readonly_fields = ["webhook_secret", "logins"]
    # A webhook address typed without a scheme is taken as https: we sign and send delivery data to it.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (None, {"fields": ["code", "name", "active"]}),
        (_("Contact"), {"fields": ["contact_name", "contact_phone", "contact_email"]}),
        (_("Service area and hours"), {"fields": ["zones", "area", "days", "opens", "closes", "cutoff"]}),
        (
            _("Capacity and prices"),
            {"fields": ["capacity_stops", "capacity_kg", "price_per_stop", "price_per_kg", "price_per_zone", "skills"]},
        ),
        (_("Webhook"), {"fields": ["webhook_url", "webhook_secret"]}),
        (_("Tracking"), {"fields": ["shares_position"]}),
        (_("Logins"), {"fields": ["logins"]}),
    ]

    @admin.display(description=_("Logins"))
    def logins(self, partner):
        # Created with POST /api/partners/{code}/users/ (managers hold no permissions on auth users).
        return ", ".join(partner.users.values_list("username", flat=True)) if partner.pk else ""

    def save_model(self, request, obj, form, change):
        if not obj.webhook_secret:
            obj.webhook_secret = secrets.token_hex(32)
        super().save_model(request, obj, form, change)


@admin.register(Handoff)
class HandoffAdmin(admin.ModelAdmin):
    """What was handed to which partner and what became of it: a record, changed only by the services."""

    list_display = ["order", "partner", "status", "cost", "cutoff_at", "offered_at", "accepted_at", "closed_at"]
    list_filter = ["status", "partner"]
    list_select_related = ["order", "partner"]
    search_fields = ["order__reference", "partner__code", "reason"]
    ordering = ["-offered_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Customers -----------------------------------------------------------------------------------


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "email",
        "phone",
        "language",
        "notify_by_email",
        "notify_by_sms",
        "opted_out",
        "order_count",
        "open_order_count",
        "created_at",
    ]
    list_filter = ["language", "notify_by_email", "notify_by_sms", "opted_out"]
    search_fields = ["name", "email", "phone"]
    ordering = ["name"]
    readonly_fields = ["created_at"]
    fieldsets = [
        (None, {"fields": ["name", "email", "phone", "language"]}),
        (
            "Notifications",
            {"fields": ["notify_by_email", "notify_by_sms", "opted_out", "quiet_hours_start", "quiet_hours_end"]},
        ),
        ("Record", {"fields": ["created_at"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                order_count=Count("orders"),
                open_order_count=Count(
                    "orders", filter=~Q(orders__status__in=[Order.Status.DELIVERED, Order.Status.CANCELLED])
                ),
            )
        )

    @admin.display(description="Orders", ordering="order_count")
    def order_count(self, customer):
        return customer.order_count

    @admin.display(description="Open orders", ordering="open_order_count")
    def open_order_count(self, customer):
        return customer.open_order_count

    actions = ["personal_data"]

    @admin.action(description="Export or erase personal data (GDPR)")
    def personal_data(self, request, queryset):
        from urllib.parse import urlencode

        from django.shortcuts import redirect
        from django.urls import reverse

        customer = queryset.first()  # the page handles one person at a time
        return redirect(
            f"{reverse('admin_personal_data')}?{urlencode({'email': customer.email, 'phone': customer.phone})}"
        )


# --- Orders --------------------------------------------------------------------------------------


class DeliveryDateFilter(admin.SimpleListFilter):
    """Delivery days as a dispatcher thinks of them: today, tomorrow, the week ahead, the week behind."""

    title = "delivery date"
    parameter_name = "delivery"

    def lookups(self, request, model_admin):
        return [
            ("today", "Today"),
            ("tomorrow", "Tomorrow"),
            ("next_7_days", "Next 7 days"),
            ("past_7_days", "Past 7 days"),
            ("overdue_open", "Past days, still open"),
        ]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        match self.value():
            case "today":
                return queryset.filter(date=today)
            case "tomorrow":
                return queryset.filter(date=today + timedelta(days=1))
            case "next_7_days":
                return queryset.filter(date__gte=today, date__lt=today + timedelta(days=7))
            case "past_7_days":
                return queryset.filter(date__lt=today, date__gte=today - timedelta(days=7))
            case "overdue_open":
                return queryset.filter(date__lt=today).exclude(
                    status__in=[Order.Status.DELIVERED, Order.Status.CANCELLED]
                )
        return queryset


class OrderStatusChangeInline(AppendOnlyAdminMixin, admin.TabularInline):
    """The order's history, read-only: rows are written by dispatch.orders.services and never edited."""

    model = OrderStatusChange
    fields = ["changed_at", "received_at", "from_status", "to_status", "changed_by", "reason", "note", "lat", "lon"]
    readonly_fields = fields
    ordering = ["changed_at", "id"]
    extra = 0
    can_delete = False
    verbose_name = "status change"
    verbose_name_plural = "status history"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")


class MoveToDateForm(forms.Form):
    new_date = forms.DateField(
        label="New delivery date", widget=forms.DateInput(attrs={"type": "date"}), help_text="Windows keep their times"
    )

    def clean_new_date(self):
        new_date = self.cleaned_data["new_date"]
        if new_date < timezone.localdate():
            raise forms.ValidationError("Orders cannot move into the past.")
        return new_date


@admin.register(Order)
class OrderAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = [
        "reference",
        "date",
        "status",
        "depot",
        "zone",
        "customer_name",
        "address",
        "window",
        "weight_kg",
        "items",
        "priority",
    ]
    list_filter = ["status", DeliveryDateFilter, "depot", "zone", "date"]
    list_select_related = ["depot", "zone"]
    search_fields = [
        "reference",
        "customer_name",
        "customer__name",
        "address",
        "email",
        "customer__email",
        "phone",
        "customer__phone",
    ]
    date_hierarchy = "date"
    ordering = ["-date", "reference"]
    list_per_page = 100
    autocomplete_fields = ["depot", "customer", "zone"]
    readonly_fields = ["status", "geocoded", "snap_distance_m", "created_at", "updated_at"]
    inlines = [OrderStatusChangeInline]
    actions = ["cancel_orders", "move_to_date"]
    fieldsets = [
        (None, {"fields": ["reference", "date", "depot", "status", "priority"]}),
        ("Customer", {"fields": ["customer", "customer_name", "phone", "email"]}),
        ("Address", {"fields": ["address", "lat", "lon", "geocoded", "snap_distance_m", "zone"]}),
        ("Delivery window", {"fields": ["window_start", "window_end", "service_minutes"]}),
        ("Load", {"fields": ["weight_kg", "volume_l", "items", "skills"]}),
        ("Notes", {"fields": ["notes"]}),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    @admin.display(description="Window", ordering="window_start")
    def window(self, order):
        if not order.window_start and not order.window_end:
            return "—"
        start = f"{timezone.localtime(order.window_start):%H:%M}" if order.window_start else ""
        end = f"{timezone.localtime(order.window_end):%H:%M}" if order.window_end else ""
        return f"{start}–{end}"

    def get_actions(self, request):
        # Orders are cancelled, not deleted: deleting would also erase their status history.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        # Only an order that never left the office may be deleted (e.g. a mistaken import line).
        if obj is not None and obj.status != Order.Status.NEW:
            return False
        return super().has_delete_permission(request, obj)

    def _locked(self, queryset):
        # Lock the selected rows while the service reads their status, so a driver's update that
        # lands meanwhile is not overwritten from a stale copy. `of` keeps the outer joins of the
        # changelist (zone, customer) out of the lock, which PostgreSQL refuses for nullable sides.
        return queryset.select_related("depot").select_for_update(of=("self",)).order_by("pk")

    @admin.action(description="Cancel selected orders", permissions=["change"])
    def cancel_orders(self, request, queryset):
        result = orders_bulk_change_status(
            orders=self._locked(queryset), to_status=Order.Status.CANCELLED, by=request.user, reason="admin"
        )
        if result.changed:
            count = len(result.changed)
            self.message_user(
                request, ngettext("%d order cancelled.", "%d orders cancelled.", count) % count, messages.SUCCESS
            )
        _report_skipped(self, request, result.skipped, "cancelled")

    @admin.action(description="Move selected orders to another date", permissions=["change"])
    def move_to_date(self, request, queryset):
        form = MoveToDateForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            result = orders_move_to_date(
                orders=self._locked(queryset), new_date=form.cleaned_data["new_date"], by=request.user
            )
            if result.changed:
                count = len(result.changed)
                self.message_user(
                    request,
                    ngettext("%(count)d order moved to %(date)s.", "%(count)d orders moved to %(date)s.", count)
                    % {"count": count, "date": form.cleaned_data["new_date"].isoformat()},
                    messages.SUCCESS,
                )
            _report_skipped(self, request, result.skipped, "moved")
            return None  # back to the changelist
        select_across = request.POST.get("select_across") == "1"
        context = {
            **self.admin_site.each_context(request),
            "title": "Move orders to another date",
            "opts": self.model._meta,
            "form": form,
            "order_count": queryset.count(),
            "shown_orders": queryset[:MOVE_PREVIEW_SHOWN],
            # With "select all" the changelist re-applies its filters from the URL; otherwise the ids go back.
            "selected_pks": [] if select_across else list(queryset.values_list("pk", flat=True)),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "action": "move_to_date",
            "select_across": "1" if select_across else "0",
            "index": request.POST.get("index", "0"),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/dispatch/order/move_to_date.html", context)


@admin.register(OrderStatusChange)
class OrderStatusChangeAdmin(AppendOnlyAdminMixin, admin.ModelAdmin):
    """The audit trail across all orders; append-only, so view-only here."""

    list_display = ["changed_at", "order", "from_status", "to_status", "changed_by", "reason"]
    list_filter = ["to_status", "from_status", "reason", "changed_at"]
    list_select_related = ["order", "changed_by"]
    search_fields = ["order__reference", "changed_by__username", "reason", "note"]
    date_hierarchy = "changed_at"
    ordering = ["-changed_at", "-id"]
    fields = [
        "order", "changed_at", "received_at", "from_status", "to_status", "changed_by", "reason", "note", "lat", "lon"
    ]  # fmt: skip
    readonly_fields = fields


# The audit log's read-only admin and the drones' no-fly zones (their own modules: nothing here depends on them).
from dispatch import audit_admin, no_fly_admin  # noqa: E402, F401
