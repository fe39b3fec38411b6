"""REST endpoints for depots, vehicles and drivers (API.md: Fleet)."""

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.fields import FiniteFloatField
from dispatch.errors import DispatchError
from dispatch.fleet import selectors as fleet_selectors
from dispatch.fleet import services
from dispatch.models import Depot, Vehicle
from dispatch.permissions import IsManagerOrReadOnlyOfficeStaff, IsOfficeStaff


class DepotField(serializers.CharField):
    """A depot named by code (or id), resolved within what the user may see."""

    def run_validation(self, data=serializers.empty):
        # The text's own checks (NUL characters, blanks, length) before the value reaches a query:
        # to_internal_value would run before them.
        value = super().run_validation(data)
        try:
            return services.depot_for_user(user=self.context["request"].user, code_or_id=value)
        except DispatchError as exc:
            raise serializers.ValidationError(exc.message) from None

    def to_representation(self, value):
        return value.code


class DepotOutput(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    address = serializers.CharField()
    lat = serializers.FloatField()
    lon = serializers.FloatField()
    opens = serializers.TimeField(format="%H:%M")
    closes = serializers.TimeField(format="%H:%M")
    is_micro_hub = serializers.BooleanField(
        help_text="A micro-hub in town where multi-trip vehicles (cargo bikes, drones) reload between trips"
    )


class DepotListApi(APIView):
    permission_classes = [IsManagerOrReadOnlyOfficeStaff]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DepotInput"  # a unique OpenAPI component name; every nested one is "InputSerializer"

        code = serializers.SlugField(max_length=32)
        name = serializers.CharField(max_length=120)
        address = serializers.CharField(max_length=255, required=False, default="")
        lat = FiniteFloatField(min_value=-90, max_value=90)
        lon = FiniteFloatField(min_value=-180, max_value=180)
        opens = serializers.TimeField(required=False)
        closes = serializers.TimeField(required=False)
        is_micro_hub = serializers.BooleanField(required=False, default=False)

        def validate_code(self, value):
            if Depot.objects.filter(code=value).exists():
                raise serializers.ValidationError("a depot with this code exists")
            return value

    @extend_schema(responses=DepotOutput(many=True))
    def get(self, request):
        return Response(DepotOutput(fleet_selectors.depots_visible_to(request.user), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: DepotOutput})
    def post(self, request):
        data = self._validated(request)
        depot = services.depot_create(**data)
        return Response(DepotOutput(depot).data, status=status.HTTP_201_CREATED)

    def _validated(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class DepotDetailApi(APIView):
    permission_classes = [IsOfficeStaff]

    @extend_schema(responses=DepotOutput)
    def get(self, request, depot_id: str):
        try:
            depot = services.depot_for_user(user=request.user, code_or_id=depot_id)
        except DispatchError:
            raise Http404 from None  # another depot's, or none: the same answer
        return Response(DepotOutput(depot).data)


class VehicleOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    depot = serializers.CharField(source="depot.code")
    kind = serializers.CharField()
    profile = serializers.CharField()
    capacity_kg = serializers.FloatField()
    capacity_items = serializers.IntegerField(allow_null=True)
    capacity_volume_l = serializers.IntegerField(allow_null=True)
    shift_start = serializers.TimeField(format="%H:%M")
    shift_end = serializers.TimeField(format="%H:%M")
    cost_per_km = serializers.FloatField()
    cost_per_hour = serializers.FloatField()
    fixed_cost = serializers.FloatField()
    skills = serializers.ListField(child=serializers.CharField())
    available = serializers.BooleanField()
    max_trips = serializers.IntegerField(help_text="Trips a day; above 1 it may come back to reload between trips")
    reload_minutes = serializers.IntegerField()
    reload_hubs = serializers.SerializerMethodField()
    flight_speed_kmh = serializers.IntegerField(allow_null=True, help_text="Drones: cruising speed in km/h")
    range_km = serializers.FloatField(allow_null=True, help_text="Drones: distance one trip may fly, out and back")

    @extend_schema_field(
        serializers.ListField(child=serializers.CharField(), help_text="Codes of the micro-hubs it may reload at")
    )
    def get_reload_hubs(self, vehicle) -> list[str]:
        return [hub.code for hub in vehicle.reload_hubs.all()]


class VehicleInput(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    depot = DepotField()
    kind = serializers.ChoiceField(choices=Vehicle.Kind.choices)
    capacity_kg = serializers.DecimalField(max_digits=8, decimal_places=1, min_value=0)
    capacity_items = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    capacity_volume_l = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    shift_start = serializers.TimeField(required=False)
    shift_end = serializers.TimeField(required=False)
    cost_per_km = serializers.DecimalField(max_digits=8, decimal_places=3, min_value=0, required=False)
    cost_per_hour = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=0, required=False)
    fixed_cost = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=0, required=False)
    skills = serializers.ListField(child=serializers.SlugField(max_length=32), required=False)
    available = serializers.BooleanField(required=False)
    max_trips = serializers.IntegerField(min_value=1, max_value=20, required=False)
    reload_minutes = serializers.IntegerField(min_value=0, max_value=600, required=False)
    flight_speed_kmh = serializers.IntegerField(
        min_value=1, max_value=300, required=False, allow_null=True, help_text="Drones (required): cruising speed"
    )
    range_km = serializers.DecimalField(
        max_digits=6, decimal_places=2, min_value=0, required=False, allow_null=True,
        help_text="Drones (required): distance one trip may fly, out and back",
    )  # fmt: skip
    reload_hubs = serializers.ListField(
        child=DepotField(), required=False, help_text="Codes of micro-hubs it may reload at besides its own depot"
    )

    def validate_reload_hubs(self, value):
        problem = services.reload_hubs_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate_name(self, value):
        if Vehicle.objects.filter(name=value).exists():
            raise serializers.ValidationError("a vehicle with this name exists")
        return value


class VehicleListApi(APIView):
    permission_classes = [IsOfficeStaff]

    class FilterSerializer(serializers.Serializer):
        depot = serializers.CharField(required=False, help_text="Depot code")

    @extend_schema(parameters=[FilterSerializer], responses=VehicleOutput(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        vehicles = fleet_selectors.vehicles_visible_to(request.user)
        if filters.validated_data.get("depot"):
            vehicles = vehicles.filter(depot__code=filters.validated_data["depot"])
        return Response(VehicleOutput(vehicles, many=True).data)

    @extend_schema(request=VehicleInput, responses={201: VehicleOutput})
    def post(self, request):
        serializer = VehicleInput(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        vehicle = services.vehicle_create(**serializer.validated_data, by=request.user)
        return Response(VehicleOutput(vehicle).data, status=status.HTTP_201_CREATED)


class VehicleDetailApi(APIView):
    permission_classes = [IsOfficeStaff]

    @extend_schema(responses=VehicleOutput)
    def get(self, request, vehicle_id: int):
        return Response(
            VehicleOutput(get_object_or_404(fleet_selectors.vehicles_visible_to(request.user), id=vehicle_id)).data
        )


class DriverOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    name = serializers.CharField()
    phone = serializers.CharField()
    depot = serializers.CharField(source="depot.code")
    vehicle = serializers.IntegerField(source="vehicle_id", allow_null=True)
    active = serializers.BooleanField()


class DriverListApi(APIView):
    permission_classes = [IsOfficeStaff]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DriverInput"  # a unique OpenAPI component name; every nested one is "InputSerializer"

        username = serializers.RegexField(r"^[\w.@+-]{1,150}$", max_length=150)
        password = serializers.CharField(min_length=8, max_length=128, write_only=True)
        name = serializers.CharField(max_length=120)
        phone = serializers.RegexField(r"^\+?[0-9 ()/.\-]{4,31}$", required=False, default="")
        vehicle = serializers.IntegerField(required=False, allow_null=True)
        depot = DepotField(required=False)

        def validate_vehicle(self, value):
            if value is None:
                return None
            vehicle = fleet_selectors.vehicles_visible_to(self.context["request"].user).filter(id=value).first()
            if vehicle is None:
                raise serializers.ValidationError("unknown vehicle")
            return vehicle

    @extend_schema(responses=DriverOutput(many=True))
    def get(self, request):
        return Response(DriverOutput(fleet_selectors.drivers_visible_to(request.user), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: DriverOutput})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        driver = services.driver_create(**serializer.validated_data)
        return Response(DriverOutput(driver).data, status=status.HTTP_201_CREATED)
