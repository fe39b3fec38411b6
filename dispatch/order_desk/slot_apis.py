"""POST /api/slots/book/ (API.md: Slots): a web shop (an integrator with a dispatcher's token) books an
order into a window it was offered by GET /api/slots/.

It answers the order as GET /api/orders/{id}/ does, tracking link included, so it sits with the orders
API: it composes slots (routes.slots) and the customers' links.
"""

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import error_response
from dispatch.models import Customer
from dispatch.order_desk.apis import OrderOutput, order_context
from dispatch.permissions import IsOfficeStaff
from routes.slots.apis import depots_for, place_of
from routes.slots.services import slot_book

HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class SlotBookApi(APIView):
    permission_classes = [IsOfficeStaff]

    class InputSerializer(serializers.Serializer):
        reference = serializers.CharField(max_length=64)
        date = serializers.DateField()
        start = serializers.RegexField(HHMM, help_text="HH:MM: a window of GET /api/slots/")
        end = serializers.RegexField(r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", help_text="HH:MM")
        depot = serializers.CharField(required=False, max_length=32, help_text="Default: the nearest depot")
        lat = serializers.FloatField(required=False, min_value=-90, max_value=90)
        lon = serializers.FloatField(required=False, min_value=-180, max_value=180)
        address = serializers.CharField(required=False, allow_blank=True, max_length=255)
        # The import's order columns (API.md: Orders).
        customer_name = serializers.CharField(required=False, allow_blank=True, max_length=160)
        phone = serializers.CharField(required=False, allow_blank=True, max_length=32)
        email = serializers.EmailField(required=False, allow_blank=True)
        language = serializers.ChoiceField(choices=Customer.Language.choices, required=False)
        service_minutes = serializers.IntegerField(required=False, min_value=0, max_value=480)
        weight_kg = serializers.DecimalField(
            required=False, max_digits=8, decimal_places=2, min_value=Decimal("0"), max_value=Decimal("100000")
        )
        volume_l = serializers.DecimalField(
            required=False, max_digits=8, decimal_places=1, min_value=Decimal("0"), max_value=Decimal("100000")
        )
        items = serializers.IntegerField(required=False, min_value=0, max_value=100000)
        skills = serializers.ListField(child=serializers.CharField(max_length=32), required=False, max_length=20)
        priority = serializers.IntegerField(required=False, min_value=0, max_value=100)
        notes = serializers.CharField(required=False, allow_blank=True, max_length=4000)

    @extend_schema(
        request=InputSerializer,
        responses={201: OrderOutput, 409: error_response("The window is no longer available")},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        lat, lon = place_of(data)
        depot = depots_for(request.user, data.get("depot"), lat, lon)
        columns = {name: value for name, value in data.items() if name not in ("reference", "date", "start", "end")}
        order = slot_book(
            depot=depot, day=data["date"], start=data["start"], end=data["end"], reference=data["reference"],
            lat=lat, lon=lon, columns=columns, user=request.user,
        )  # fmt: skip
        return Response(
            OrderOutput(order, context=order_context(request, [order])).data, status=status.HTTP_201_CREATED
        )
