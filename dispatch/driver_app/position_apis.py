"""POST /api/driver/positions/: a driver's phone reports where it is (API.md, Drivers)."""

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.core.handlers.asgi import ASGIRequest
from drf_spectacular.authentication import TokenScheme
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from config.fields import FiniteFloatField
from dispatch.live.positions import MAX_POSITIONS_PER_BATCH, clock_ahead_problem, driver_positions_record
from dispatch.permissions import IsDriver


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
        problem = clock_ahead_problem(value, now=self.context["now"])
        if problem:
            raise serializers.ValidationError(problem)
        return value


class DriverTokenAuthentication(TokenAuthentication):
    """Token authentication that loads the user's driver row in the same query (every phone posts
    every few seconds: one query fewer per position)."""

    def authenticate_credentials(self, key):
        token = self.get_model().objects.select_related("user__driver").filter(key=key).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return token.user, token


class DriverTokenScheme(TokenScheme):
    """The same `Authorization: Token <key>` header in the OpenAPI schema, under its own name."""

    target_class = DriverTokenAuthentication
    name = "driverTokenAuth"
    priority = 1  # ahead of the TokenAuthentication scheme, which also matches subclasses


class DriverPositionsApi(APIView):
    """Positions recorded by the phone, live or buffered while offline; answers 202 once stored."""

    authentication_classes = [DriverTokenAuthentication, SessionAuthentication]
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


_positions_view = DriverPositionsApi.as_view()


def _positions_response(request):
    response = _positions_view(request)
    response.render()
    return response


async def driver_positions_view(request):
    """The URL's view: DriverPositionsApi run on a pooled worker thread instead of Django's ASGI default.

    Under ASGI a sync view runs on a new thread per request, and Django's database connections belong
    to threads, so every position would open (TLS handshake included) and soon drop its own PostgreSQL
    connection. On the event loop's worker threads the connection is kept and reused (CONN_MAX_AGE and
    health checks apply: database_sync_to_async closes old connections around each call).
    A request that did not come from an ASGI server (Django's test client) belongs to a synchronous
    caller whose thread owns the connection and the open transaction: the view runs there.
    """
    if isinstance(request, ASGIRequest):
        return await database_sync_to_async(_positions_response, thread_sensitive=False)(request)
    return await sync_to_async(_positions_response, thread_sensitive=True)(request)


# What DRF and drf-spectacular read from a view function (the OpenAPI schema, the permission matrix).
driver_positions_view.cls = DriverPositionsApi
driver_positions_view.initkwargs = {}
driver_positions_view.view_class = DriverPositionsApi
driver_positions_view.csrf_exempt = True
