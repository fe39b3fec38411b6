"""The orders API (API.md: Orders): the list, the import, and one order with its place in the plan, its
proofs and its tracking link. It composes orders, plans and customer links, so it sits with the pages."""

from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.selectors import active_tracking_links_by_order, tracking_path_for_link
from dispatch.errors import OrderImportError
from dispatch.models import Order
from dispatch.order_desk import selectors as order_selectors
from dispatch.orders import selectors
from dispatch.orders.import_files import check_import_size, declared_length
from dispatch.orders.importing import orders_import_csv
from dispatch.permissions import IsOfficeStaff
from routes.geocoding import default_geocoder


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
    service_minutes = serializers.IntegerField(allow_null=True)
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


def order_context(request, orders) -> dict:
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
        return Response(OrderOutput(orders, many=True, context=order_context(request, orders)).data)


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
                [{"row": 0, "field": "file", "value": None, "message": gettext("multipart field 'file' is required")}]
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
        order = get_object_or_404(selectors.orders_visible_to(request.user), id=order_id)
        order.placement = order_selectors.order_placement(order)
        order.proofs_list = list(order_selectors.order_proofs(order))
        return Response(OrderDetailOutput(order, context=order_context(request, [order])).data)
