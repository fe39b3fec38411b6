"""Admin for road closures, traffic profiles, network builds and plans.

Closures are written through routes.plans.services so that the admin, the API and the map behave the
same (validation, version bumps, re-planning). Plans are records of what was computed and
dispatched: read-only here.
"""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from dispatch.audit import AuditedAdminMixin
from routes.admin_widgets import HourlyFactorsField
from routes.closures import services
from routes.learning.services import travel_model_activate, travel_model_learn_request
from routes.models import (
    Plan,
    RoadClosure,
    RoadNetworkBuild,
    Route,
    SlotPolicy,
    Stop,
    TrafficProfile,
    TravelModel,
    UnassignedOrder,
)
from routes.network.closure_geometry import validate_closure_geometry


class ClosureForm(forms.ModelForm):
    class Meta:
        model = RoadClosure
        fields = ["reason", "geometry", "starts_at", "ends_at"]
        widgets = {"geometry": forms.Textarea(attrs={"rows": 6, "cols": 80, "style": "font-family: monospace"})}

    def clean_geometry(self):
        try:
            return validate_closure_geometry(self.cleaned_data["geometry"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(RoadClosure)
class RoadClosureAdmin(admin.ModelAdmin):
    form = ClosureForm
    list_display = ["id", "reason", "starts_at", "ends_at", "is_active_now", "version", "created_by", "lifted_at"]
    list_filter = ["lifted_at", "starts_at"]
    search_fields = ["reason"]
    readonly_fields = ["version", "created_by", "created_at", "updated_at", "lifted_at", "lifted_by"]
    actions = ["lift_closures"]

    @admin.display(boolean=True, description="Active now")
    def is_active_now(self, closure):
        return closure.is_active()

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in ("reason", "geometry", "starts_at", "ends_at")}
        if change:
            services.closure_update(closure=obj, by=request.user, **data)
        else:
            obj.pk = services.closure_create(by=request.user, **data).pk

    def delete_model(self, request, obj):
        # Deleting would erase the history re-planning relies on: lift instead.
        services.closure_lift(closure=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for closure in queryset:
            services.closure_lift(closure=closure, by=request.user)

    @admin.action(description="Lift selected closures now")
    def lift_closures(self, request, queryset):
        lifted = sum(services.closure_lift(closure=c, by=request.user).was_lifted_now for c in queryset)
        self.message_user(request, f"{lifted} closure(s) lifted.", messages.SUCCESS)


class TrafficProfileForm(forms.ModelForm):
    hourly_factors = HourlyFactorsField(label="Hourly factors")

    class Meta:
        model = TrafficProfile
        fields = ["road_class", "day_type", "hourly_factors"]


@admin.register(TrafficProfile)
class TrafficProfileAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = TrafficProfileForm
    list_display = ["road_class", "day_type", "day_curve", "rush_hour_factors", "updated_at"]
    list_filter = ["day_type"]
    search_fields = ["road_class"]

    class Media:
        css = {"all": ["css/admin_widgets.css"]}

    @admin.display(description="00–23 h")
    def day_curve(self, profile):
        """The 24 factors as a small line (1.0 dashed), so the changelist compares road classes at a glance."""
        factors = profile.hourly_factors or []
        if len(factors) != 24 or not all(isinstance(f, (int, float)) for f in factors):
            return "—"
        width, height, top = 96, 24, 1.5
        points = " ".join(
            f"{2 + hour * (width - 4) / 23:.1f},{height - 2 - (height - 4) * min(max(f, 0), top) / top:.1f}"
            for hour, f in enumerate(factors)
        )
        free_flow = height - 2 - (height - 4) / top
        return format_html(
            '<svg class="traffic-sparkline" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
            '<line x1="0" x2="{}" y1="{}" y2="{}"></line><polyline points="{}"></polyline></svg>',
            width, height, width, height, f"lowest {min(factors):.2f} at {factors.index(min(factors)):02d} h",
            width, f"{free_flow:.1f}", f"{free_flow:.1f}", points,
        )  # fmt: skip

    @admin.display(description="07–09 h and 17–19 h")
    def rush_hour_factors(self, profile):
        factors = profile.hourly_factors or []
        if len(factors) != 24:
            return "—"
        return " ".join(f"{factors[h]:.2f}" for h in (7, 8, 17, 18))


@admin.register(RoadNetworkBuild)
class RoadNetworkBuildAdmin(admin.ModelAdmin):
    list_display = ["source", "built_at", "active", "path"]
    readonly_fields = ["source", "path", "built_at", "summary", "active"]

    def has_add_permission(self, request):
        return False  # built by `manage.py load_road_network`, which parses the file outside any request


class RouteInline(admin.TabularInline):
    model = Route
    fields = ["vehicle", "driver", "distance_m", "duration_s", "cost", "start", "end", "locked"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class UnassignedInline(admin.TabularInline):
    model = UnassignedOrder
    fields = ["order", "reason", "code"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Plan)
class PlanAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "date", "depot", "version", "status", "objective", "reason", "vehicles_used", "unassigned_count",
        "distance_km", "cost", "dispatched_at",
    ]  # fmt: skip
    list_filter = ["status", "objective", "depot", "date"]
    list_select_related = ["depot"]
    date_hierarchy = "date"
    inlines = [RouteInline, UnassignedInline]

    @admin.display(description="km", ordering="distance_m")
    def distance_km(self, plan):
        return f"{plan.distance_m / 1000:.1f}"


class StopInline(admin.TabularInline):
    model = Stop
    fields = ["sequence", "order", "eta", "etd", "leg_distance_m", "leg_duration_s", "late_s", "pinned"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Route)
class RouteAdmin(ReadOnlyAdmin):
    list_display = ["id", "plan", "vehicle", "driver", "stop_count", "distance_m", "duration_s", "cost", "start", "end"]
    list_select_related = ["plan", "plan__depot", "vehicle", "driver"]
    list_filter = ["plan__date"]
    inlines = [StopInline]

    @admin.display(description="Stops")
    def stop_count(self, route):
        return route.stops.count()

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("stops")


@admin.register(SlotPolicy)
class SlotPolicyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Per depot: the delivery windows customers may choose (routes.slots), when booking closes, how
    much of a day one window may take, and whether customers may move their delivery themselves."""

    list_display = [
        "depot", "slot_minutes", "first_slot_start", "last_slot_end", "days_offered", "lead_minutes",
        "day_before_cutoff", "max_share_percent", "self_service",
    ]  # fmt: skip
    list_filter = ["self_service"]
    list_editable = ["self_service"]
    fieldsets = [
        (None, {"fields": ["depot", "self_service"]}),
        (
            "Windows offered",
            {"fields": ["slot_minutes", "first_slot_start", "last_slot_end", "weekdays", "hidden_slots"]},
        ),
        ("Booking closes", {"fields": ["days_ahead", "lead_minutes", "day_before_cutoff"]}),
        ("Capacity", {"fields": ["max_share_percent", "stops_per_vehicle_hour"]}),
    ]

    @admin.display(description="Days")
    def days_offered(self, policy):
        names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        return ", ".join(names[d] for d in sorted(policy.weekdays or []) if 0 <= d <= 6) or "—"


@admin.register(TravelModel)
class TravelModelAdmin(ReadOnlyAdmin):
    """The learned travel model's versions with their held-out scores; learn one now, or go back to one."""

    list_display = [
        "version", "active", "created_at", "trained_from", "trained_to", "held_out_day", "error_mean_s",
        "error_p90_s", "error_then_active", "weekday_leg_scale", "junction_costs", "note",
    ]  # fmt: skip
    exclude = ["speeds"]
    actions = ["learn_now", "use_version"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("speeds")

    @admin.display(description=_("mean leg error (s)"))
    def error_mean_s(self, model):
        return (model.score or {}).get("candidate", {}).get("mean")

    @admin.display(description=_("p90 leg error (s)"))
    def error_p90_s(self, model):
        return (model.score or {}).get("candidate", {}).get("p90")

    @admin.display(description=_("active version then: mean / p90 (s)"))
    def error_then_active(self, model):
        active = (model.score or {}).get("active") or {}
        return f"{active.get('mean')} / {active.get('p90')}" if active.get("legs") else "–"

    @admin.display(description=_("legs take x planned, Mon-Fri"))
    def weekday_leg_scale(self, model):
        # routes.learning.calibration: what the plans' legs took against what they said, per profile
        scales = (model.parameters or {}).get("leg_scale") or {}
        return " · ".join(f"{profile} {values[0]:.2f}" for profile, values in sorted(scales.items())) or "–"

    @admin.display(description=_("junction costs x default"))
    def junction_costs(self, model):
        # routes.learning.junctions: the classes a version prices off their defaults (a class left out: 1)
        factors = (model.parameters or {}).get("junction_factors") or {}
        parts = []
        for profile, classes in sorted(factors.items()):
            moved = [f"{name.replace('_', ' ')} {value:.2f}" for name, value in classes.items() if value != 1.0]
            parts.append(f"{profile}: {', '.join(moved) or 'defaults'}")
        return " · ".join(parts) or "–"

    @admin.action(description=_("Learn a new version now (from the recent days)"))
    def learn_now(self, request, queryset):
        travel_model_learn_request(by=request.user)
        self.message_user(
            request, _("Learning started: the new version appears here when it is done."), messages.SUCCESS
        )

    @admin.action(description=_("Use the selected version for all planning"))
    def use_version(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one version."), messages.ERROR)
            return
        model = travel_model_activate(model=queryset.get())
        self.message_user(
            request, _("Version %(version)s is active now.") % {"version": model.version}, messages.SUCCESS
        )
