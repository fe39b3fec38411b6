"""REST endpoints of courier partners (API.md: Courier partners), and the dispatcher's hand-off.

Managers keep the partners and create their logins; a partner's login sees and acts on only the
orders handed to its partner (another partner's order answers 404, as if it did not exist). The
actions take the driver API's bodies, `occurred_at` and an `Idempotency-Key` header included.
"""

from datetime import date

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from config.fields import AwareDateTimeField, FiniteFloatField
from config.schema import error_response
from dispatch.driver_app import services as driver_services
from dispatch.driver_app.apis import IDEMPOTENCY_KEY, DeliveryFields, FailureFields
from dispatch.driver_app.position_apis import PositionInput
from dispatch.errors import DispatchError
from dispatch.live.positions import MAX_POSITIONS_PER_BATCH
from dispatch.models import CourierPartner, Handoff
from dispatch.orders.selectors import orders_visible_to
from dispatch.partners import selectors, services
from dispatch.partners import tasks as _tasks  # noqa: F401 - registers the tasks the services enqueue by name
from dispatch.permissions import IsManager, IsManagerOrReadOnlyOfficeStaff, IsOfficeStaff, IsPartner

MONEY = {"max_digits": 10, "decimal_places": 2, "min_value": 0, "coerce_to_string": True}


class PartnerOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    contact_name = serializers.CharField()
    contact_phone = serializers.CharField()
    contact_email = serializers.CharField()
    zones = serializers.SerializerMethodField()
    area = serializers.JSONField(allow_null=True, help_text="GeoJSON Polygon, [lon, lat] positions")
    days = serializers.ListField(child=serializers.IntegerField(), help_text="ISO weekdays, 1 = Monday; [] = every day")
    opens = serializers.TimeField(format="%H:%M")
    closes = serializers.TimeField(format="%H:%M")
    capacity_stops = serializers.IntegerField(help_text="Stops per day; 0 = no limit")
    capacity_kg = serializers.DecimalField(max_digits=8, decimal_places=1, allow_null=True)
    price_per_stop = serializers.DecimalField(max_digits=8, decimal_places=2)
    price_per_kg = serializers.DecimalField(max_digits=8, decimal_places=3)
    price_per_zone = serializers.DictField(child=serializers.CharField(), help_text="Extra per stop by zone code")
    cutoff = serializers.TimeField(
        format="%H:%M", help_text="Local time; before `opens` on the day, else the day before"
    )
    skills = serializers.ListField(child=serializers.CharField())
    webhook_url = serializers.CharField()
    active = serializers.BooleanField()

    def get_zones(self, partner) -> list[str]:
        return [zone.code for zone in partner.zones.all()]


class PartnerCreatedOutput(PartnerOutput):
    webhook_secret = serializers.CharField(help_text="Shown once, to the manager who created the partner")


class PartnerListApi(APIView):
    """Office staff read the partners (to hand orders over); only managers add one."""

    permission_classes = [IsManagerOrReadOnlyOfficeStaff]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PartnerInput"

        code = serializers.SlugField(max_length=32)
        name = serializers.CharField(max_length=120)
        contact_name = serializers.CharField(max_length=120, required=False, default="", allow_blank=True)
        contact_phone = serializers.CharField(max_length=32, required=False, default="", allow_blank=True)
        contact_email = serializers.EmailField(required=False, default="", allow_blank=True)
        zones = serializers.ListField(child=serializers.CharField(max_length=32), required=False, default=list)
        area = serializers.DictField(required=False, allow_null=True, default=None, help_text="GeoJSON Polygon")
        days = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=7), required=False, default=list, max_length=7
        )
        opens = serializers.TimeField(required=False)
        closes = serializers.TimeField(required=False)
        capacity_stops = serializers.IntegerField(min_value=0, max_value=100_000)
        capacity_kg = serializers.DecimalField(
            max_digits=8, decimal_places=1, min_value=0, required=False, allow_null=True, default=None
        )
        price_per_stop = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=0)
        price_per_kg = serializers.DecimalField(max_digits=8, decimal_places=3, min_value=0, required=False, default=0)
        price_per_zone = serializers.DictField(
            child=serializers.DecimalField(max_digits=8, decimal_places=2, min_value=0), required=False, default=dict
        )
        cutoff = serializers.TimeField(help_text="HH:MM local")
        skills = serializers.ListField(child=serializers.CharField(max_length=32), required=False, default=list)
        webhook_url = serializers.URLField(required=False, default="", allow_blank=True, max_length=200)
        webhook_secret = serializers.CharField(required=False, min_length=16, max_length=128)

        def validate(self, data):
            if data.get("opens") and data.get("closes") and data["opens"] >= data["closes"]:
                raise serializers.ValidationError({"closes": gettext("must be after opens")})
            data["price_per_zone"] = {code: str(price) for code, price in data.get("price_per_zone", {}).items()}
            return data

    @extend_schema(responses=PartnerOutput(many=True))
    def get(self, request):
        return Response(PartnerOutput(selectors.partners_list(), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: PartnerCreatedOutput})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        partner = services.partner_create(by=request.user, **serializer.validated_data)
        return Response(PartnerCreatedOutput(partner).data, status=status.HTTP_201_CREATED)


class PartnerUserCreateApi(APIView):
    permission_classes = [IsManager]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PartnerUserInput"

        username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
        password = serializers.CharField(min_length=8, max_length=128, write_only=True)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: inline_serializer(
                "PartnerUserAnswer", {"username": serializers.CharField(), "partner": serializers.CharField()}
            )
        },
        description="Creates a login in group `partner` for this partner.",
    )
    def post(self, request, code: str):
        partner = selectors.partner_by_code(code)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.partner_user_create(by=request.user, partner=partner, **serializer.validated_data)
        return Response({"username": user.username, "partner": partner.code}, status=status.HTTP_201_CREATED)


class PartnerOrderOutput(serializers.Serializer):
    id = serializers.IntegerField(source="order.id")
    reference = serializers.CharField(source="order.reference")
    date = serializers.DateField(source="order.date")
    status = serializers.CharField(source="order.status", help_text="The order's status, as for our own drivers")
    handoff_status = serializers.CharField(source="status", help_text="offered, accepted, delivered or failed")
    customer_name = serializers.CharField(source="order.customer_name")
    phone = serializers.CharField(source="order.phone")
    address = serializers.CharField(source="order.address")
    lat = serializers.FloatField(source="order.lat")
    lon = serializers.FloatField(source="order.lon")
    window_start = serializers.DateTimeField(source="order.window_start", allow_null=True)
    window_end = serializers.DateTimeField(source="order.window_end", allow_null=True)
    weight_kg = serializers.DecimalField(source="order.weight_kg", max_digits=8, decimal_places=2)
    items = serializers.IntegerField(source="order.items")
    skills = serializers.ListField(source="order.skills", child=serializers.CharField())
    notes = serializers.CharField(source="order.notes")
    cost = serializers.DecimalField(max_digits=10, decimal_places=2)
    cutoff_at = serializers.DateTimeField(help_text="Accept by then, or the order goes back to the company")
    accepted_at = serializers.DateTimeField(allow_null=True)


ORDER_ANSWER = inline_serializer("PartnerOrderAnswer", {"order": PartnerOrderOutput()})


class PartnerOrderListApi(APIView):
    permission_classes = [IsPartner]

    @extend_schema(
        parameters=[OpenApiParameter("date", str, description="YYYY-MM-DD; missing lists every day")],
        responses=PartnerOrderOutput(many=True),
    )
    def get(self, request):
        day = None
        if raw := request.query_params.get("date"):
            try:
                day = date.fromisoformat(raw)
            except ValueError:
                raise DispatchError(gettext("date must be YYYY-MM-DD"), field="date", value=raw[:40]) from None
        partner = selectors.partner_for_user(request.user)
        return Response(PartnerOrderOutput(selectors.partner_handoffs(partner=partner, day=day), many=True).data)


class _PartnerActionInput(serializers.Serializer):
    class Meta:
        ref_name = "PartnerActionInput"

    occurred_at = AwareDateTimeField(
        required=False,
        allow_null=True,
        help_text="When it happened (RFC 3339 with its UTC offset), for an action sent later; missing means now. "
        "Refused when more than 5 minutes in the future, older than 24 h, or before the order's previous action.",
    )

    def validate_occurred_at(self, value):
        problem = value and driver_services.action_time_problem(value, now=self.context["received_at"])
        if problem:
            raise serializers.ValidationError(problem)
        return value


class _PositionedInput(_PartnerActionInput):
    class Meta:
        ref_name = "PartnerArriveInput"

    lat = FiniteFloatField(required=False, allow_null=True, min_value=-90, max_value=90)
    lon = FiniteFloatField(required=False, allow_null=True, min_value=-180, max_value=180)


class _PartnerActionApi(APIView):
    permission_classes = [IsPartner]
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    input_serializer = _PartnerActionInput

    def perform(self, *, handoff: Handoff, data: dict, received_at) -> None:
        raise NotImplementedError

    def post(self, request, order_id: int):
        partner = selectors.partner_for_user(request.user)
        received_at = timezone.now()

        def action():
            handoff = selectors.partner_handoff(partner=partner, order_id=order_id)
            serializer = self.input_serializer(data=request.data, context={"received_at": received_at})
            serializer.is_valid(raise_exception=True)
            self.perform(handoff=handoff, data=serializer.validated_data, received_at=received_at)
            handoff.refresh_from_db()
            handoff.order.refresh_from_db()
            return 200, {"order": PartnerOrderOutput(handoff).data}

        status_code, body, replayed = driver_services.idempotent_action(
            user=request.user, key=request.headers.get("Idempotency-Key"), method=request.method,
            path=request.path, action=action,
        )  # fmt: skip
        response = Response(body, status=status_code)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class PartnerOrderAcceptApi(_PartnerActionApi):
    @extend_schema(request=_PartnerActionInput, responses=ORDER_ANSWER, parameters=[IDEMPOTENCY_KEY])
    def post(self, request, order_id: int):
        return super().post(request, order_id)

    def perform(self, *, handoff, data, received_at):
        services.handoff_accept(
            handoff=handoff, by=self.request.user, occurred_at=data.get("occurred_at"), received_at=received_at
        )


class PartnerOrderRejectApi(_PartnerActionApi):
    class InputSerializer(_PartnerActionInput):
        class Meta:
            ref_name = "PartnerRejectInput"

        reason = serializers.CharField(max_length=500)

    input_serializer = InputSerializer

    @extend_schema(request=InputSerializer, responses=ORDER_ANSWER, parameters=[IDEMPOTENCY_KEY])
    def post(self, request, order_id: int):
        return super().post(request, order_id)

    def perform(self, *, handoff, data, received_at):
        services.handoff_reject(handoff=handoff, by=self.request.user, reason=data["reason"])


class PartnerOrderArriveApi(_PartnerActionApi):
    input_serializer = _PositionedInput

    @extend_schema(request=_PositionedInput, responses=ORDER_ANSWER, parameters=[IDEMPOTENCY_KEY])
    def post(self, request, order_id: int):
        return super().post(request, order_id)

    def perform(self, *, handoff, data, received_at):
        services.handoff_arrive(
            handoff=handoff, by=self.request.user, lat=data.get("lat"), lon=data.get("lon"),
            occurred_at=data.get("occurred_at"), received_at=received_at,
        )  # fmt: skip


class PartnerOrderDeliverApi(_PartnerActionApi):
    class InputSerializer(_PositionedInput, DeliveryFields):
        class Meta:
            ref_name = "PartnerDeliverInput"

    input_serializer = InputSerializer

    @extend_schema(request=InputSerializer, responses=ORDER_ANSWER, parameters=[IDEMPOTENCY_KEY])
    def post(self, request, order_id: int):
        return super().post(request, order_id)

    def perform(self, *, handoff, data, received_at):
        services.handoff_deliver(
            handoff=handoff, by=self.request.user, recipient_name=data["recipient_name"], photo=data.get("photo"),
            signature=data.get("signature"), note=data["note"], lat=data.get("lat"), lon=data.get("lon"),
            occurred_at=data.get("occurred_at"), received_at=received_at,
        )  # fmt: skip


class PartnerOrderFailApi(_PartnerActionApi):
    class InputSerializer(_PositionedInput, FailureFields):
        class Meta:
            ref_name = "PartnerFailInput"

    input_serializer = InputSerializer

    @extend_schema(request=InputSerializer, responses=ORDER_ANSWER, parameters=[IDEMPOTENCY_KEY])
    def post(self, request, order_id: int):
        return super().post(request, order_id)

    def perform(self, *, handoff, data, received_at):
        services.handoff_fail(
            handoff=handoff, by=self.request.user, reason=data["reason"], note=data["note"], lat=data.get("lat"),
            lon=data.get("lon"), occurred_at=data.get("occurred_at"), received_at=received_at,
        )  # fmt: skip


class HandoffOutput(serializers.Serializer):
    id = serializers.IntegerField()
    order = serializers.IntegerField(source="order_id")
    partner = serializers.CharField(source="partner.code")
    plan = serializers.IntegerField(source="plan_id", allow_null=True)
    status = serializers.CharField()
    cost = serializers.DecimalField(max_digits=10, decimal_places=2)
    cutoff_at = serializers.DateTimeField()
    offered_at = serializers.DateTimeField()


class OrderHandoffApi(APIView):
    """A dispatcher hands one of the depot's orders to a courier partner (taking it off our route)."""

    permission_classes = [IsOfficeStaff]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OrderHandoffInput"

        partner = serializers.SlugField(max_length=32, help_text="The partner's code")
        reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)

    @extend_schema(
        request=InputSerializer,
        responses={201: HandoffOutput, 409: error_response("The order is on its way, done, or already with a partner")},
    )
    def post(self, request, order_id: int):
        order = get_object_or_404(orders_visible_to(request.user), id=order_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        partner = CourierPartner.objects.filter(code=serializer.validated_data["partner"]).first()
        if partner is None:
            raise DispatchError(gettext("Unknown partner"), field="partner", value=serializer.validated_data["partner"])
        handoff = services.order_hand_off(
            order=order, partner=partner, by=request.user, reason=serializer.validated_data["reason"]
        )
        return Response(HandoffOutput(handoff).data, status=status.HTTP_201_CREATED)


class OrderHandoffCancelApi(APIView):
    """A dispatcher takes an order back from its partner (before the partner is at the door): it goes
    back to planning and the partner is told by signed webhook (`order.withdrawn`)."""

    permission_classes = [IsOfficeStaff]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OrderHandoffCancelInput"

        reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: HandoffOutput,
            409: error_response("The order is with no partner, or the partner already has it at the door"),
        },
    )
    def post(self, request, order_id: int):
        order = get_object_or_404(orders_visible_to(request.user), id=order_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        handoff = services.handoff_take_back(order=order, by=request.user, reason=serializer.validated_data["reason"])
        return Response(HandoffOutput(handoff).data)


class PartnerPositionsApi(APIView):
    """A partner's courier on the way to one of its orders (the driver API's body, plus the order).

    Only a partner that shares positions (set by the company's managers) may post them: the customer's
    tracking page then shows the courier approaching, as it shows our drivers. Others get 403.
    """

    permission_classes = [IsPartner]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PartnerPositionsInput"

        order = serializers.IntegerField(
            min_value=1, max_value=2**63 - 1, help_text="The order the courier is on the way to"
        )
        positions = PositionInput(many=True, allow_empty=False, max_length=MAX_POSITIONS_PER_BATCH)

    @extend_schema(
        request=InputSerializer,
        responses={
            202: inline_serializer(
                "PartnerPositionsAccepted",
                {"order": serializers.IntegerField(), "latest_recorded_at": serializers.DateTimeField()},
            ),
            404: error_response("No such order among the partner's (another partner's order is a 404 too)"),
            409: error_response("The order is delivered, failed or no longer the partner's to deliver"),
        },
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data, context={"now": timezone.now()})
        serializer.is_valid(raise_exception=True)
        handoff = services.partner_positions_record(
            partner=selectors.partner_for_user(request.user),
            order_id=serializer.validated_data["order"],
            positions=serializer.validated_data["positions"],
        )
        return Response(
            {"order": handoff.order_id, "latest_recorded_at": handoff.courier_position_at},
            status=status.HTTP_202_ACCEPTED,
        )
