"""REST endpoints for depots, vehicles, drivers and orders (API.md: Fleet, Orders)."""

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from config.fields import FiniteFloatField
from customers.selectors import active_tracking_links_by_order, tracking_path_for_link
from dispatch import selectors, services
from dispatch.errors import DispatchError, OrderImportError
from dispatch.models import Order, Vehicle
from dispatch.order_csv import check_import_size, declared_length
from dispatch.order_import import orders_import_csv
from dispatch.permissions import IsManagerOrReadOnlyOfficeStaff, IsOfficeStaff
from routes.geocoding import default_geocoder


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

        def validate_code(self, value):
            from dispatch.models import Depot

            if Depot.objects.filter(code=value).exists():
                raise serializers.ValidationError("a depot with this code exists")
            return value

    @extend_schema(responses=DepotOutput(many=True))
    def get(self, request):
        return Response(DepotOutput(selectors.depots_visible_to(request.user), many=True).data)

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
        vehicles = selectors.vehicles_visible_to(request.user)
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
            VehicleOutput(get_object_or_404(selectors.vehicles_visible_to(request.user), id=vehicle_id)).data
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
            vehicle = selectors.vehicles_visible_to(self.context["request"].user).filter(id=value).first()
            if vehicle is None:
                raise serializers.ValidationError("unknown vehicle")
            return vehicle

    @extend_schema(responses=DriverOutput(many=True))
    def get(self, request):
        return Response(DriverOutput(selectors.drivers_visible_to(request.user), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: DriverOutput})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        driver = services.driver_create(**serializer.validated_data)
        return Response(DriverOutput(driver).data, status=status.HTTP_201_CREATED)


class OrderOutput(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    date = serializers.DateField()
    status = serializers.CharField()
    depot = serializers.CharField(source="depot.code")
    zone = serializers.CharField(source="zone.code", allow_null=True, default=None)
    customer_name = serializers.CharField()
    phone = serializers.CharField()
    email = serializers.CharField()
    address = serializers.CharField()
    lat = serializers.FloatField()
    lon = serializers.FloatField()
    geocoded = serializers.BooleanField()
    snap_distance_m = serializers.FloatField(allow_null=True)
    window_start = serializers.DateTimeField(allow_null=True)
    window_end = serializers.DateTimeField(allow_null=True)
    service_minutes = serializers.IntegerField()
    weight_kg = serializers.FloatField()
    volume_l = serializers.FloatField()
    items = serializers.IntegerField()
    skills = serializers.ListField(child=serializers.CharField())
    priority = serializers.IntegerField()
    notes = serializers.CharField()
    tracking_url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_tracking_url(self, order) -> str | None:
        links = self.context.get("tracking_links", {})
        link = links.get(order.id)
        if link is None:
            return None
        return self.context["request"].build_absolute_uri(tracking_path_for_link(link))


def _order_context(request, orders) -> dict:
    return {"request": request, "tracking_links": active_tracking_links_by_order(o.id for o in orders)}


class OrderListApi(APIView):
    permission_classes = [IsOfficeStaff]

    class FilterSerializer(serializers.Serializer):
        date = serializers.DateField(required=False)
        status = serializers.CharField(required=False)
        depot = serializers.CharField(required=False)
        zone = serializers.CharField(required=False)
        q = serializers.CharField(required=False)

        def validate_status(self, value):
            unknown = set(value.split(",")) - set(Order.Status.values)
            if unknown:
                raise serializers.ValidationError(f"unknown status {', '.join(sorted(unknown))}")
            return value

    @extend_schema(parameters=[FilterSerializer], responses=OrderOutput(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        orders = list(
            selectors.orders_visible_to(
                request.user,
                day=f.get("date"),
                status=f.get("status"),
                depot=f.get("depot"),
                zone=f.get("zone"),
                search=f.get("q"),
            )
        )
        return Response(OrderOutput(orders, many=True, context=_order_context(request, orders)).data)


class OrderProofOutput(serializers.Serializer):
    recipient_name = serializers.CharField()
    delivered_at = serializers.DateTimeField()
    driver = serializers.CharField(source="driver.name", allow_null=True, default=None)
    has_photo = serializers.SerializerMethodField()
    has_signature = serializers.SerializerMethodField()

    def get_has_photo(self, proof) -> bool:
        return bool(proof.photo)

    def get_has_signature(self, proof) -> bool:
        return bool(proof.signature)


class OrderDetailOutput(OrderOutput):
    """One order with where it stands in the plan that rules its day (the order page's facts)."""

    plan = serializers.IntegerField(source="placement.plan.pk", allow_null=True, default=None,
                                    help_text="The plan that rules the order's day: the newest dispatched version holding it")  # fmt: skip
    plan_version = serializers.IntegerField(source="placement.plan.version", allow_null=True, default=None)
    vehicle = serializers.CharField(source="placement.route.vehicle.name", allow_null=True, default=None)
    driver = serializers.CharField(source="placement.route.driver.name", allow_null=True, default=None)
    stop_sequence = serializers.IntegerField(source="placement.stop.sequence", allow_null=True, default=None)
    eta = serializers.DateTimeField(
        source="placement.stop.eta", allow_null=True, default=None, help_text="Planned arrival"
    )
    live_eta = serializers.DateTimeField(source="placement.stop.live_eta", allow_null=True, default=None,
                                         help_text="Arrival predicted from the driver's position")  # fmt: skip
    proofs = OrderProofOutput(source="proofs_list", many=True, help_text="Proofs of delivery, newest first")
    page_url = serializers.SerializerMethodField(help_text="The order's page in the dashboard")

    def get_page_url(self, order) -> str:
        return self.context["request"].build_absolute_uri(reverse("dashboard:order_detail", args=[order.pk]))


class OrderDetailApi(APIView):
    permission_classes = [IsOfficeStaff]

    @extend_schema(responses=OrderDetailOutput)
    def get(self, request, order_id: int):
        from dispatch import order_selectors

        order = get_object_or_404(selectors.orders_visible_to(request.user), id=order_id)
        order.placement = order_selectors.order_placement(order)
        order.proofs_list = list(order_selectors.order_proofs(order))
        return Response(OrderDetailOutput(order, context=_order_context(request, [order])).data)


class OrderImportApi(APIView):
    permission_classes = [IsOfficeStaff]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": inline_serializer("OrderImportInput", {"file": serializers.FileField()})},
        responses={
            201: inline_serializer(
                "OrderImportResult",
                {
                    "created": serializers.IntegerField(),
                    "updated": serializers.IntegerField(),
                    "unchanged": serializers.IntegerField(),
                    "orders": serializers.ListField(child=serializers.IntegerField()),
                    "warnings": serializers.ListField(child=serializers.DictField()),
                },
            ),
            400: inline_serializer(
                "OrderImportErrors",
                {"detail": serializers.CharField(), "errors": serializers.ListField(child=serializers.DictField())},
            ),
        },
    )
    def post(self, request):
        check_import_size(declared_length(request), whole_request=True)  # before the body is read
        upload = request.FILES.get("file")
        if upload is None:
            raise OrderImportError(
                [{"row": 0, "field": "file", "value": None, "message": "multipart field 'file' is required"}]
            )
        check_import_size(upload.size)
        result = orders_import_csv(data=upload.read(), user=request.user, geocode=default_geocoder())
        return Response(
            {
                "created": len(result.created),
                "updated": len(result.updated),
                "orders": result.order_ids,
                "warnings": result.warnings,
            },
            status=status.HTTP_201_CREATED,
        )
