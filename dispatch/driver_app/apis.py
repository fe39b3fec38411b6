"""REST endpoints of the driver's phone app (API.md: Drivers): today's route and the stop actions.

The stop actions accept an `Idempotency-Key` header: the phone's offline queue sends one per action
and may send it more than once; the first answer is replayed, the action is never applied twice.
They also take `occurred_at`, the time of the driver's tap, so that an action sent late from that
queue is recorded when it happened (dispatch.driver_app.services).
"""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from config.fields import AwareDateTimeField, FiniteFloatField
from dispatch.driver_app import selectors as driver_selectors
from dispatch.driver_app import services as driver_services
from dispatch.permissions import IsDriver
from routes.plans import selectors as plan_selectors
from routes.plans.trips import TripsMixin


class DriverStopOutput(serializers.Serializer):
    id = serializers.IntegerField()
    order = serializers.IntegerField(source="order_id")
    reference = serializers.CharField(source="order.reference")
    sequence = serializers.IntegerField()
    status = serializers.CharField(source="order.status")
    customer_name = serializers.CharField(source="order.customer_name")
    phone = serializers.CharField(source="order.phone")
    address = serializers.CharField(source="order.address")
    lat = serializers.FloatField(source="order.lat")
    lon = serializers.FloatField(source="order.lon")
    window_start = serializers.DateTimeField(source="order.window_start", allow_null=True)
    window_end = serializers.DateTimeField(source="order.window_end", allow_null=True)
    eta = serializers.DateTimeField()
    live_eta = serializers.DateTimeField(allow_null=True)
    etd = serializers.DateTimeField()
    service_s = serializers.IntegerField()
    notes = serializers.CharField(source="order.notes")
    skills = serializers.ListField(source="order.skills", child=serializers.CharField())
    items = serializers.IntegerField(source="order.items")
    weight = serializers.FloatField(source="order.weight_kg", help_text="kg")


class DriverRouteOutput(TripsMixin):
    id = serializers.IntegerField()
    plan = serializers.IntegerField(source="plan_id")
    version = serializers.IntegerField(source="plan.version")
    date = serializers.DateField(source="plan.date")
    vehicle = serializers.IntegerField(source="vehicle_id")
    vehicle_name = serializers.CharField(source="vehicle.name")
    vehicle_kind = serializers.CharField(source="vehicle.kind")
    driver = serializers.IntegerField(source="driver_id", allow_null=True)
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField(allow_null=True)
    distance_m = serializers.IntegerField()
    duration_s = serializers.IntegerField()
    geometry = serializers.DictField(
        help_text="The road path as a GeoJSON LineString, [lon, lat] positions to 5 decimals (about 1 m): "
        '{"type": "LineString", "coordinates": [[9.52131, 47.13992], ...]}; {} before the route is drawn.'
    )
    breaks = serializers.ListField(child=serializers.DictField())
    stops = DriverStopOutput(many=True)


def _stop_answer(stop) -> dict:
    stop.order.refresh_from_db()
    return {"stop": DriverStopOutput(stop).data}


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="One per action; a repeated key answers the first response again and changes nothing.",
)  # fmt: skip
STOP_ANSWER = inline_serializer("DriverStopAnswer", {"stop": DriverStopOutput()})


class DriverRouteApi(APIView):
    permission_classes = [IsDriver]

    @extend_schema(
        responses=inline_serializer("DriverRouteAnswer", {"route": DriverRouteOutput(allow_null=True)}),
        description='Today\'s route from the newest dispatched plan version; {"route": null} while nothing is '
        "dispatched to the driver.",
    )
    def get(self, request):
        driver = driver_selectors.driver_for_user(request.user)
        route = plan_selectors.driver_route(driver)
        return Response({"route": DriverRouteOutput(route).data if route else None})


class _StopActionApi(APIView):
    permission_classes = [IsDriver]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    class ActionInput(serializers.Serializer):
        class Meta:
            ref_name = "DriverStopActionInput"

        lat = FiniteFloatField(required=False, allow_null=True, min_value=-90, max_value=90)
        lon = FiniteFloatField(required=False, allow_null=True, min_value=-180, max_value=180)
        occurred_at = AwareDateTimeField(
            required=False,
            allow_null=True,
            help_text="When the driver tapped it (RFC 3339 with its UTC offset), for an action sent later from "
            "the phone's offline queue; missing means now. Refused when more than 5 minutes in the future, "
            "older than DRIVER_ACTION_MAX_AGE_H (24 h), or before the stop's previous action.",
        )

        def validate_occurred_at(self, value):
            problem = value and driver_services.action_time_problem(value, now=self.context["received_at"])
            if problem:
                raise serializers.ValidationError(problem)
            return value

    input_serializer = ActionInput

    def perform(self, *, driver, stop, data, received_at) -> None:
        raise NotImplementedError

    def post(self, request, stop_id: int):
        driver = driver_selectors.driver_for_user(request.user)
        # One clock reading for the whole request: what the tap time is checked against is what is stored.
        received_at = timezone.now()

        def action():
            stop = driver_selectors.driver_stop(driver, stop_id)
            serializer = self.input_serializer(data=request.data, context={"received_at": received_at})
            serializer.is_valid(raise_exception=True)
            self.perform(driver=driver, stop=stop, data=serializer.validated_data, received_at=received_at)
            return 200, _stop_answer(stop)

        status_code, body, replayed = driver_services.idempotent_action(
            user=request.user, key=request.headers.get("Idempotency-Key"), method=request.method,
            path=request.path, action=action,
        )  # fmt: skip
        response = Response(body, status=status_code)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class StopArriveApi(_StopActionApi):
    @extend_schema(request=_StopActionApi.ActionInput, responses=STOP_ANSWER, parameters=[IDEMPOTENCY_KEY])
    def post(self, request, stop_id: int):
        return super().post(request, stop_id)

    def perform(self, *, driver, stop, data, received_at):
        driver_services.stop_arrive(
            driver=driver, stop=stop, by=self.request.user, lat=data.get("lat"), lon=data.get("lon"),
            occurred_at=data.get("occurred_at"), received_at=received_at,
        )  # fmt: skip


@extend_schema_field({"type": "string", "format": "binary", "description": "An image file, or a data: URL (base64)"})
class ProofImageField(serializers.Field):
    """An uploaded image file or a `data:image/png;base64,...` URL (what a canvas gives)."""

    def to_internal_value(self, data):
        return driver_services.proof_image_from(data, field=self.field_name)

    def to_representation(self, value):
        return None


class DeliveryFields(serializers.Serializer):
    """A delivery's body (API.md: Drivers), the same for a courier partner's."""

    recipient_name = serializers.CharField(required=False, allow_blank=True, max_length=160, default="")
    photo = ProofImageField(required=False, allow_null=True, help_text="JPEG or PNG, at most 5 MB")
    signature = ProofImageField(required=False, allow_null=True, help_text="PNG data URL or image file")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class FailureFields(serializers.Serializer):
    """A failed delivery's body (API.md: Drivers), the same for a courier partner's."""

    reason = serializers.ChoiceField(choices=driver_services.FAIL_REASONS)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class StopDeliverApi(_StopActionApi):
    class InputSerializer(_StopActionApi.ActionInput, DeliveryFields):
        class Meta:
            ref_name = "DriverStopDeliverInput"

    input_serializer = InputSerializer

    @extend_schema(request=InputSerializer, responses=STOP_ANSWER, parameters=[IDEMPOTENCY_KEY])
    def post(self, request, stop_id: int):
        return super().post(request, stop_id)

    def perform(self, *, driver, stop, data, received_at):
        driver_services.stop_deliver(
            driver=driver, stop=stop, by=self.request.user, recipient_name=data["recipient_name"],
            photo=data.get("photo"), signature=data.get("signature"), note=data["note"],
            lat=data.get("lat"), lon=data.get("lon"), occurred_at=data.get("occurred_at"), received_at=received_at,
        )  # fmt: skip


class StopFailApi(_StopActionApi):
    class InputSerializer(_StopActionApi.ActionInput, FailureFields):
        class Meta:
            ref_name = "DriverStopFailInput"

    input_serializer = InputSerializer

    @extend_schema(request=InputSerializer, responses=STOP_ANSWER, parameters=[IDEMPOTENCY_KEY])
    def post(self, request, stop_id: int):
        return super().post(request, stop_id)

    def perform(self, *, driver, stop, data, received_at):
        driver_services.stop_fail(
            driver=driver, stop=stop, by=self.request.user, reason=data["reason"], note=data["note"],
            lat=data.get("lat"), lon=data.get("lon"), occurred_at=data.get("occurred_at"), received_at=received_at,
        )  # fmt: skip


__all__ = ["DriverRouteApi", "StopArriveApi", "StopDeliverApi", "StopFailApi"]
