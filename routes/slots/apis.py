"""GET /api/slots/ (API.md: Slots): the windows of a day the fleet can still serve for one order.

For the office and for integrators (a web shop's checkout): a token of a dispatcher or a manager
(there is no separate integrator role; give the shop a user in the dispatcher group of its depots).
"""

import re
from decimal import Decimal

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from dispatch.fleet.selectors import depots_visible_to
from dispatch.models import Depot
from dispatch.permissions import IsOfficeStaff
from routes.errors import RoutingError
from routes.geocoding import default_geocoder
from routes.slots.grid import policy_for
from routes.slots.selectors import OrderSize, nearest_depot, slot_offer
from routes.slots.services import slot_policy_update


def depots_for(user, code: str | None, lat: float, lon: float) -> Depot:
    """The depot named (one the user sees), else the one nearest the address among those the user sees."""
    depots = depots_visible_to(user)
    if code:
        depot = depots.filter(code__iexact=code).first()
        if depot is None:
            raise RoutingError(_("Unknown depot %(code)s") % {"code": code}, field="depot", value=code)
        return depot
    depot = nearest_depot(lat, lon, list(depots))
    if depot is None:
        raise RoutingError(_("No depot to deliver from: you see none"), field="depot", value=None)
    return depot


def place_of(data: dict) -> tuple[float, float]:
    """(lat, lon) given, or geocoded offline from the address (routes.geocoding)."""
    if data.get("lat") is not None and data.get("lon") is not None:
        return data["lat"], data["lon"]
    if (data.get("lat") is None) != (data.get("lon") is None):
        missing = "lon" if data.get("lat") is not None else "lat"
        raise RoutingError(_("Give lat and lon together"), field=missing, value=None)
    address = (data.get("address") or "").strip()
    if not address:
        raise RoutingError(_("Give lat and lon, or an address"), field="address", value="")
    geocode = default_geocoder()
    if geocode is None:
        raise RoutingError(
            _("An address needs the road network's geocoder, which is not loaded; give lat and lon"),
            field="address",
            value=address,
        )
    hit = geocode(address)
    if hit is None:
        raise RoutingError(_("Address not found in the region's address data"), field="address", value=address)
    return hit


def skills_list(raw: str) -> tuple[str, ...]:
    return tuple(sorted({skill.strip() for skill in re.split(r"[,;|]", raw or "") if skill.strip()}))


class SlotOutput(serializers.Serializer):
    start = serializers.CharField(source="slot.start_label", help_text="HH:MM, the company's local time")
    end = serializers.CharField(source="slot.end_label", help_text="HH:MM (24:00: midnight)")
    available = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True, help_text="Why not, in the request's language")
    reason_code = serializers.CharField(
        allow_null=True, help_text="closed, cutoff, skills, capacity, full or self_service_off"
    )
    marginal_cost = serializers.FloatField(
        allow_null=True, help_text="What serving the order in this window adds, in the company's currency"
    )
    green = serializers.BooleanField(help_text="The cheapest available window")
    booked = serializers.IntegerField(help_text="Orders already in this window")
    capacity = serializers.IntegerField(help_text="Stops the working vehicles can serve in this window")


class SlotListApi(APIView):
    permission_classes = [IsOfficeStaff]

    class FilterSerializer(serializers.Serializer):
        date = serializers.DateField()
        lat = serializers.FloatField(required=False, min_value=-90, max_value=90)
        lon = serializers.FloatField(required=False, min_value=-180, max_value=180)
        address = serializers.CharField(required=False, max_length=255)
        depot = serializers.CharField(required=False, max_length=32)
        weight_kg = serializers.DecimalField(
            required=False, max_digits=8, decimal_places=2, min_value=Decimal("0"), default=Decimal("0")
        )
        items = serializers.IntegerField(required=False, min_value=0, max_value=100000, default=1)
        skills = serializers.CharField(
            required=False, allow_blank=True, max_length=500, help_text="e.g. fridge,two_person"
        )
        service_minutes = serializers.IntegerField(required=False, min_value=0, max_value=480, default=0)

    class OutputSerializer(serializers.Serializer):
        date = serializers.DateField(source="day")
        depot = serializers.CharField(source="depot.code")
        basis = serializers.CharField(help_text="plan: insertion into the day's plan; estimate: no plan yet")
        plan = serializers.IntegerField(source="plan_id", allow_null=True)
        slots = SlotOutput(many=True)

    @extend_schema(parameters=[FilterSerializer], responses=OutputSerializer)
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        lat, lon = place_of(data)
        depot = depots_for(request.user, data.get("depot"), lat, lon)
        size = OrderSize(
            weight_kg=data["weight_kg"], items=data["items"], skills=skills_list(data.get("skills", "")),
            service_minutes=data["service_minutes"],
        )  # fmt: skip
        offer = slot_offer(depot=depot, day=data["date"], lat=lat, lon=lon, size=size)
        return Response(self.OutputSerializer(offer).data)


class SlotPolicyApi(APIView):
    """What a depot offers customers who choose their own window: its dispatchers and managers read and
    change it (the admin shows the same to managers). Another depot's policy answers 404."""

    permission_classes = [IsOfficeStaff]

    class PolicySerializer(serializers.Serializer):
        depot = serializers.CharField(source="depot.code", read_only=True)
        slot_minutes = serializers.IntegerField(min_value=15, max_value=720)
        first_slot_start = serializers.TimeField(allow_null=True, help_text="Empty: when the depot opens")
        last_slot_end = serializers.TimeField(allow_null=True, help_text="Empty: when the depot closes")
        weekdays = serializers.ListField(
            child=serializers.IntegerField(min_value=0, max_value=6), max_length=7, help_text="0 = Monday … 6 = Sunday"
        )
        hidden_slots = serializers.ListField(
            child=serializers.RegexField(r"^\d\d:\d\d$"), max_length=96, help_text='Slot starts not offered, "HH:MM"'
        )
        days_ahead = serializers.IntegerField(min_value=0, max_value=120)
        lead_minutes = serializers.IntegerField(min_value=0, max_value=10080)
        day_before_cutoff = serializers.TimeField(allow_null=True)
        max_share_percent = serializers.IntegerField(min_value=1, max_value=100)
        stops_per_vehicle_hour = serializers.DecimalField(
            max_digits=4, decimal_places=1, min_value=Decimal("0.5"), max_value=Decimal("999.9")
        )
        self_service = serializers.BooleanField(help_text="Customers may move their delivery on the tracking page")

    def _depot(self, request, depot_id: str) -> Depot:
        depot = depots_visible_to(request.user).filter(code=depot_id).first()
        if depot is None:
            raise NotFound()
        return depot

    @extend_schema(responses=PolicySerializer)
    def get(self, request, depot_id: str):
        return Response(self.PolicySerializer(policy_for(self._depot(request, depot_id))).data)

    @extend_schema(request=PolicySerializer, responses=PolicySerializer)
    def patch(self, request, depot_id: str):
        depot = self._depot(request, depot_id)
        serializer = self.PolicySerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        policy = slot_policy_update(depot=depot, by=request.user, **serializer.validated_data)
        return Response(self.PolicySerializer(policy).data)
