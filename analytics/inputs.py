"""The query string of the analytics API and pages: a date range and optional filters."""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext
from rest_framework import serializers

from analytics.errors import AnalyticsError
from analytics.filters import KpiFilters
from analytics.selectors import scoped_filters
from dispatch.errors import DispatchError
from dispatch.fleet.selectors import looks_like_id
from dispatch.fleet.services import depot_for_user
from dispatch.models import Driver, Vehicle, Zone
from dispatch.roles import visible_depot_ids

MAX_RANGE_DAYS = 3 * 366
DEFAULT_RANGE_DAYS = 30


class KpiQuerySerializer(serializers.Serializer):
    class Meta:
        ref_name = "AnalyticsQuery"

    # "from" is a Python keyword: the fields are renamed below.
    date_from = serializers.DateField(required=False, help_text="First day (YYYY-MM-DD); default 29 days before `to`")
    date_to = serializers.DateField(required=False, help_text="Last day (YYYY-MM-DD); default today")
    depot = serializers.CharField(required=False, allow_blank=True, help_text="Depot code or id")
    zone = serializers.CharField(required=False, allow_blank=True, help_text="Zone code or id")
    driver = serializers.IntegerField(required=False, allow_null=True, help_text="Driver id")
    vehicle_kind = serializers.ChoiceField(choices=Vehicle.Kind.choices, required=False, allow_blank=True)

    def to_internal_value(self, data):
        data = {
            key: data.get(key) for key in ("depot", "zone", "driver", "vehicle_kind") if data.get(key) not in (None, "")
        }
        for public, name in (("from", "date_from"), ("to", "date_to")):
            if self.initial_data.get(public):
                data[name] = self.initial_data.get(public)
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            renamed = {{"date_from": "from", "date_to": "to"}.get(k, k): v for k, v in exc.detail.items()}
            raise serializers.ValidationError(renamed) from None


def kpi_filters_from_query(*, user, query) -> KpiFilters:
    """Validated filters from a request's query string, limited to what the user may see."""
    serializer = KpiQuerySerializer(data=query)
    serializer.is_valid(raise_exception=True)
    values = serializer.validated_data
    date_to = values.get("date_to") or timezone.localdate()
    date_from = values.get("date_from") or date_to - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if date_from > date_to:
        raise AnalyticsError(gettext("`from` is after `to`"), field="from", value=date_from.isoformat())
    if (date_to - date_from).days + 1 > MAX_RANGE_DAYS:
        raise AnalyticsError(
            gettext("At most %(days)s days at once") % {"days": MAX_RANGE_DAYS}, field="to", value=date_to.isoformat()
        )
    depot_id = None
    if values.get("depot"):
        try:
            depot_id = depot_for_user(user=user, code_or_id=values["depot"]).id
        except DispatchError as exc:
            raise AnalyticsError(exc.message, field="depot", value=values["depot"]) from None
    allowed = visible_depot_ids(user)
    zone_id = None
    if values.get("zone"):
        zones = Zone.objects.all() if allowed is None else Zone.objects.filter(depot_id__in=allowed)
        zone = zones.filter(code=values["zone"]).first()
        if zone is None and looks_like_id(values["zone"]):
            zone = zones.filter(id=int(values["zone"])).first()
        if zone is None:
            raise AnalyticsError(
                gettext("Unknown zone %(zone)s") % {"zone": repr(values["zone"])}, field="zone", value=values["zone"]
            )
        zone_id = zone.id
    driver_id = values.get("driver")
    if driver_id is not None:
        drivers = Driver.objects.all() if allowed is None else Driver.objects.filter(depot_id__in=allowed)
        if not drivers.filter(id=driver_id).exists():
            raise AnalyticsError(
                gettext("Unknown driver %(driver)s") % {"driver": driver_id}, field="driver", value=driver_id
            )
    return scoped_filters(
        user,
        date_from=date_from,
        date_to=date_to,
        depot_id=depot_id,
        zone_id=zone_id,
        driver_id=driver_id,
        vehicle_kind=values.get("vehicle_kind") or None,
    )
