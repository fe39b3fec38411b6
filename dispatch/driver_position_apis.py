"""POST /api/driver/positions/: a driver's phone reports where it is (API.md, Drivers)."""

import math
from datetime import timedelta

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from dispatch.permissions import IsDriver
from dispatch.positions import MAX_CLOCK_AHEAD, MAX_POSITIONS_PER_BATCH, driver_positions_record


class FiniteFloatField(serializers.FloatField):
    # float("nan") passes every min/max comparison; "NaN" and "Infinity" arrive as strings from phones.
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            raise serializers.ValidationError("must be a finite number")
        return value


class PositionInput(serializers.Serializer):
    class Meta:
        ref_name = "DriverPositionInput"

    lat = FiniteFloatField(min_value=-90, max_value=90)
    lon = FiniteFloatField(min_value=-180, max_value=180)
    recorded_at = serializers.DateTimeField()
    accuracy_m = FiniteFloatField(min_value=0, required=False, allow_null=True)
    speed_mps = FiniteFloatField(min_value=0, required=False, allow_null=True)
    heading = FiniteFloatField(min_value=0, max_value=360, required=False, allow_null=True, help_text="degrees")

    def validate_recorded_at(self, value):
        if value > self.context["now"] + MAX_CLOCK_AHEAD:
            minutes = int(MAX_CLOCK_AHEAD / timedelta(minutes=1))
            raise serializers.ValidationError(f"is more than {minutes} minutes in the future (check the phone's clock)")
        return value


class DriverPositionsApi(APIView):
    """Positions recorded by the phone, live or buffered while offline; answers 202 once stored."""

    permission_classes = [IsDriver]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DriverPositionsInput"

        positions = PositionInput(many=True, allow_empty=False, max_length=MAX_POSITIONS_PER_BATCH)

    @extend_schema(
        request=InputSerializer,
        responses={
            202: inline_serializer(
                "DriverPositionsAccepted",
                {"accepted": serializers.IntegerField(), "latest_recorded_at": serializers.DateTimeField()},
            )
        },
    )
    def post(self, request):
        from django.utils import timezone

        serializer = self.InputSerializer(data=request.data, context={"now": timezone.now()})
        serializer.is_valid(raise_exception=True)
        result = driver_positions_record(driver=request.user.driver, positions=serializer.validated_data["positions"])
        return Response(
            {"accepted": result.accepted, "latest_recorded_at": result.latest_recorded_at},
            status=status.HTTP_202_ACCEPTED,
        )
