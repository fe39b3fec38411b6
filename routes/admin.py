"""Admin for road closures, traffic profiles, network builds and plans.

Closures are written through routes.services so that the admin, the API and the map behave the
same (validation, version bumps, re-planning). Plans are records of what was computed and
dispatched: read-only here.
"""

import json

from django import forms
from django.contrib import admin, messages

from routes import services
from routes.closure_geometry import validate_closure_geometry
from routes.models import Plan, RoadClosure, RoadNetworkBuild, Route, Stop, TrafficProfile, UnassignedOrder


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


class HourlyFactorsWidget(forms.Textarea):
    def format_value(self, value):
        if isinstance(value, str):
            return value
        return json.dumps(value)


@admin.register(TrafficProfile)
class TrafficProfileAdmin(admin.ModelAdmin):
    list_display = ["road_class", "day_type", "rush_hour_factors", "updated_at"]
    list_filter = ["day_type"]
    search_fields = ["road_class"]

    def get_form(self, request, obj=None, **kwargs):
        kwargs["widgets"] = {"hourly_factors": HourlyFactorsWidget(attrs={"rows": 3, "cols": 100})}
        return super().get_form(request, obj, **kwargs)

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
