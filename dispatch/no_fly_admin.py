"""No-fly zones in the admin: drawn on the same map as delivery zones (dispatch.admin_widgets), in red.

Its own module, loaded by dispatch.admin, to keep that one readable; nothing depends on it.
"""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from dispatch.admin_widgets import ZonePolygonField
from dispatch.audit import AuditedAdminMixin
from dispatch.models import Depot, NoFlyZone, Zone

NO_FLY_COLOR = "#dc2626"
# Stands in for a refused polygon on a new zone while its form is shown again (see dispatch.admin.ZoneForm).
UNSAVED_POLYGON = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 1], [0, 0]]]}


class NoFlyZoneForm(forms.ModelForm):
    polygon = ZonePolygonField(
        label=_("Polygon"), help_text=_("The area no drone may fly over or deliver in, as a GeoJSON Polygon.")
    )

    class Meta:
        model = NoFlyZone
        fields = ["name", "reason", "active", "polygon"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The depots (drones take off from them) and the delivery zones for bearings.
        widget = self.fields["polygon"].widget
        widget.depots = Depot.objects.only("code", "name", "address", "opens", "closes", "lat", "lon")
        widget.other_zones = Zone.objects.only("code", "name", "color", "polygon")
        widget.color = NO_FLY_COLOR

    def clean(self):
        cleaned = super().clean()
        if self.has_error("polygon") and not isinstance(self.instance.polygon, dict):
            # NoFlyZone.clean would add a vaguer error next to the field's precise one; never saved.
            self.instance.polygon = UNSAVED_POLYGON
        return cleaned


@admin.register(NoFlyZone)
class NoFlyZoneAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = NoFlyZoneForm
    list_display = ["name", "reason", "active"]
    list_filter = ["active"]
    search_fields = ["name", "reason"]
    ordering = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "reason", "active"]}),
        (_("Area"), {"fields": ["polygon"]}),
    ]
