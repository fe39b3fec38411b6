"""Alerts for the dashboards: list them, resolve one (dispatch.alerts raises and resolves them itself too)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from dispatch import alerts
from dispatch.permissions import IsOfficeStaff

MAX_ALERTS = 500


class AlertOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    message = serializers.CharField()
    depot = serializers.CharField(source="depot.code")
    order = serializers.IntegerField(source="order_id", allow_null=True)
    reference = serializers.CharField(source="order.reference", allow_null=True, default=None)
    driver = serializers.IntegerField(source="driver_id", allow_null=True)
    driver_name = serializers.CharField(source="driver.name", allow_null=True, default=None)
    data = serializers.DictField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolved_by = serializers.CharField(source="resolved_by.username", allow_null=True, default=None)


class AlertListApi(APIView):
    permission_classes = [IsOfficeStaff]

    class FilterSerializer(serializers.Serializer):
        open = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        parameters=[OpenApiParameter("open", bool, description="1: only alerts not resolved yet")],
        responses=AlertOutput(many=True),
        description="Alerts of the depots the user sees, newest first (at most 500).",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = alerts.alerts_visible_to(request.user, open_only=filters.validated_data["open"])
        return Response(AlertOutput(queryset[:MAX_ALERTS], many=True).data)


class AlertResolveApi(APIView):
    permission_classes = [IsOfficeStaff]

    @extend_schema(
        request=None,
        responses=AlertOutput,
        description="Resolve an alert. Resolving one that is already resolved changes nothing and answers it as it is.",
    )
    def post(self, request, alert_id: int):
        # Another depot's alert answers 404, as if it did not exist.
        alert = get_object_or_404(alerts.alerts_visible_to(request.user), pk=alert_id)
        alerts.alert_resolve(alert=alert, by=request.user)
        alert.refresh_from_db()
        return Response(AlertOutput(alert).data)
