"""REST endpoints for road closures (API.md: Closures)."""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from dispatch.permissions import IsOfficeStaff
from routes.closures import selectors, services


class ClosureOutput(serializers.Serializer):
    id = serializers.IntegerField()
    geometry = serializers.DictField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()
    active = serializers.SerializerMethodField()
    version = serializers.IntegerField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    lifted_at = serializers.DateTimeField(allow_null=True)

    def get_active(self, closure) -> bool:
        return closure.is_active()


def _in_our_times(value):
    # A closure in the year 156 is a typo; its local time would carry the zone's mean solar offset
    # (+00:38:04 in Vaduz), which no RFC 3339 client reads back.
    if value is not None and not 2000 <= value.year <= 2100:
        raise serializers.ValidationError(
            _("must be between the years 2000 and 2100, not in the year %(year)s") % {"year": value.year}
        )


class ClosureInput(serializers.Serializer):
    geometry = serializers.JSONField()
    starts_at = serializers.DateTimeField(required=False, validators=[_in_our_times])
    ends_at = serializers.DateTimeField(required=False, allow_null=True, validators=[_in_our_times])
    reason = serializers.CharField(max_length=255)


class ClosureListApi(APIView):
    permission_classes = [IsOfficeStaff]

    @extend_schema(parameters=[OpenApiParameter("active", bool)], responses=ClosureOutput(many=True))
    def get(self, request):
        active_only = request.query_params.get("active") in ("1", "true", "yes")
        return Response(ClosureOutput(selectors.closures_list(active_only=active_only), many=True).data)

    @extend_schema(request=ClosureInput, responses={201: ClosureOutput})
    def post(self, request):
        serializer = ClosureInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        closure = services.closure_create(**serializer.validated_data, by=request.user)
        return Response(ClosureOutput(closure).data, status=status.HTTP_201_CREATED)


class ClosureDetailApi(APIView):
    permission_classes = [IsOfficeStaff]

    def _closure(self, closure_id):
        return get_object_or_404(selectors.closures_list(), id=closure_id)

    @extend_schema(responses=ClosureOutput)
    def get(self, request, closure_id: int):
        return Response(ClosureOutput(self._closure(closure_id)).data)

    @extend_schema(request=ClosureInput(partial=True), responses=ClosureOutput)
    def patch(self, request, closure_id: int):
        closure = self._closure(closure_id)
        serializer = ClosureInput(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        closure = services.closure_update(closure=closure, by=request.user, **serializer.validated_data)
        return Response(ClosureOutput(closure).data)

    @extend_schema(responses={204: None}, description="Lift the closure now (it stays in the history).")
    def delete(self, request, closure_id: int):
        services.closure_lift(closure=self._closure(closure_id), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
