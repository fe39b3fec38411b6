"""REST endpoints of the customers app (API.md: Customers, and an order's notifications).

The tracking endpoints are public by design (the token is the credential): no authentication
classes, so no session and no CSRF; rate-limited per IP and per token; the same 404 for every
token that does not open a page.
"""

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import translation
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import error_response
from customers import selectors, services
from customers.notifications.rendering import customer_language
from customers.tracking import self_service
from customers.tracking.access import RateLimited, link_for_request, security_headers
from dispatch.orders import selectors as dispatch_selectors
from dispatch.permissions import IsOfficeStaff


class NotificationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    channel = serializers.CharField()
    event = serializers.CharField()
    status = serializers.CharField()
    status_reason = serializers.CharField()
    recipient = serializers.CharField()
    language = serializers.CharField()
    subject = serializers.CharField()
    body = serializers.CharField()
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    send_after = serializers.DateTimeField(allow_null=True)
    sent_at = serializers.DateTimeField(allow_null=True)


class OrderNotificationsApi(APIView):
    """What the customer was sent (the outbox rows of one order), oldest first."""

    permission_classes = [IsOfficeStaff]

    @extend_schema(responses=NotificationOutput(many=True))
    def get(self, request, order_id: int):
        order = get_object_or_404(dispatch_selectors.orders_visible_to(request.user), id=order_id)
        return Response(NotificationOutput(selectors.notifications_for_order(order), many=True).data)


TOO_MANY_REQUESTS = error_response("Too many requests for this link or from this address; see Retry-After")


class _TrackingApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    scope = "view"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if hasattr(self, request.method.lower()):  # a method the endpoint lacks answers 405, token or not
            self.link = link_for_request(request, kwargs["token"], scope=self.scope)

    def handle_exception(self, exc):
        if isinstance(exc, RateLimited):
            response = Response({"detail": "Too many requests", "errors": []}, status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        return security_headers(response, request)


class PositionOutput(serializers.Serializer):
    lat = serializers.FloatField()
    lon = serializers.FloatField()
    recorded_at = serializers.DateTimeField()


class WindowOutput(serializers.Serializer):
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField(allow_null=True)


class TrackingEventOutput(serializers.Serializer):
    status = serializers.CharField()
    at = serializers.DateTimeField()


class ProofOutput(serializers.Serializer):
    delivered_at = serializers.DateTimeField()
    recipient_name = serializers.CharField()
    has_photo = serializers.BooleanField()
    has_signature = serializers.BooleanField()


class TrackingOutput(serializers.Serializer):
    status = serializers.CharField(
        help_text="received, scheduled, on_the_way, arrived, delivered, failed, cancelled; rescheduling: taken off "
        "a running route (no window, ETA or driver until it is planned again)"
    )
    reference = serializers.CharField()
    date = serializers.DateField()
    eta_window = WindowOutput()
    eta = serializers.DateTimeField(allow_null=True)
    driver_name = serializers.CharField(help_text="The driver's first name")
    driver_position = PositionOutput(allow_null=True, help_text="Only while this order is the driver's next stop")
    is_next_stop = serializers.BooleanField()
    destination = inline_serializer(
        "TrackingDestination", {"lat": serializers.FloatField(), "lon": serializers.FloatField()}
    )
    events = TrackingEventOutput(many=True)
    proof = ProofOutput(allow_null=True)
    feedback = inline_serializer(
        "TrackingFeedback", {"rating": serializers.IntegerField(), "comment": serializers.CharField()}, allow_null=True
    )


class TrackingApi(_TrackingApi):
    @extend_schema(responses={200: TrackingOutput, 429: TOO_MANY_REQUESTS}, auth=[])
    def get(self, request, token: str):
        return Response(TrackingOutput(selectors.tracking_state(self.link.order)).data)


class TrackingFeedbackApi(_TrackingApi):
    """The customer's rating once delivered; sending again replaces the earlier answer."""

    class InputSerializer(serializers.Serializer):
        rating = serializers.IntegerField(min_value=1, max_value=5)
        comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    class OutputSerializer(serializers.Serializer):
        rating = serializers.IntegerField()
        comment = serializers.CharField()
        updated_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer, 429: TOO_MANY_REQUESTS}, auth=[])
    def post(self, request, token: str):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        feedback = services.feedback_submit(order=self.link.order, **serializer.validated_data)
        return Response(self.OutputSerializer(feedback).data, status=status.HTTP_201_CREATED)


class TrackingMessageApi(_TrackingApi):
    """A message from the customer to the dispatchers of the order's depot (their inbox)."""

    scope = "message"

    class InputSerializer(serializers.Serializer):
        text = serializers.CharField(max_length=1000, trim_whitespace=True)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        text = serializers.CharField()
        created_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer, 429: TOO_MANY_REQUESTS}, auth=[])
    def post(self, request, token: str):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = services.customer_message_receive(order=self.link.order, **serializer.validated_data)
        return Response(self.OutputSerializer(message).data, status=status.HTTP_201_CREATED)


class TrackingSlotOutput(serializers.Serializer):
    start = serializers.CharField(source="slot.start_label", help_text="HH:MM, the company's local time")
    end = serializers.CharField(source="slot.end_label")
    available = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True, help_text="Why not, in the customer's language")
    reason_code = serializers.CharField(allow_null=True)
    green = serializers.BooleanField(help_text="The window that costs the fleet least: the greener choice")


class TrackingSlotDayOutput(serializers.Serializer):
    date = serializers.DateField(source="day")
    slots = TrackingSlotOutput(many=True)


class TrackingSlotsApi(_TrackingApi):
    """The windows the customer may move their own delivery to: the next days with a free window."""

    class OutputSerializer(serializers.Serializer):
        allowed = serializers.BooleanField(help_text="Whether this order can be moved here now")
        reason_code = serializers.CharField(
            allow_null=True, help_text="status (on the road or done) or self_service_off, when not allowed"
        )
        days = TrackingSlotDayOutput(many=True)

    @extend_schema(responses={200: OutputSerializer, 429: TOO_MANY_REQUESTS}, auth=[])
    def get(self, request, token: str):
        order = self.link.order
        allowed = self_service.self_service_for(order)
        days = []
        if allowed.allowed:
            with translation.override(_tracking_language(request, order)):
                days = self_service.tracking_slot_days(order)
        data = {"allowed": allowed.allowed, "reason_code": allowed.reason_code, "days": days}
        return Response(self.OutputSerializer(data).data)


class TrackingRescheduleApi(_TrackingApi):
    """The customer moves their own delivery to one of the windows of TrackingSlotsApi."""

    scope = "reschedule"

    class InputSerializer(serializers.Serializer):
        date = serializers.DateField()
        start = serializers.RegexField(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", help_text="HH:MM")
        end = serializers.RegexField(r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", help_text="HH:MM")

    @extend_schema(
        request=InputSerializer,
        responses={
            200: TrackingOutput,
            409: error_response("The window is no longer available, or this delivery cannot be moved here"),
            429: TOO_MANY_REQUESTS,
        },
        auth=[],
    )
    def post(self, request, token: str):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = self.link.order
        with translation.override(_tracking_language(request, order)):
            data = serializer.validated_data
            move = self_service.tracking_reschedule(order=order, day=data["date"], start=data["start"], end=data["end"])
        return Response(TrackingOutput(selectors.tracking_state(move.order)).data)


def _tracking_language(request, order) -> str:
    language = request.query_params.get("lang") or customer_language(order)
    return language if language in dict(settings.LANGUAGES) else "en"
