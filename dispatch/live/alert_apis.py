"""Alerts for the dashboards: list them, resolve one or many (dispatch.live.alerts raises and resolves them itself too)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from dispatch.alerts import alert_resolve
from dispatch.live import alert_selectors, alerts
from dispatch.models import Alert
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
        kind = serializers.ChoiceField(choices=Alert.Kind.choices, required=False)
        driver = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(
        parameters=[
            OpenApiParameter("open", bool, description="1: only alerts not resolved yet"),
            OpenApiParameter("kind", str, enum=Alert.Kind.values, description="Only alerts of this kind"),
            OpenApiParameter("driver", int, description="Only alerts about this driver (their route)"),
        ],
        responses=AlertOutput(many=True),
        description="Alerts of the depots the user sees, newest first (at most 500).",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        queryset = alert_selectors.alerts_filtered(
            request.user,
            alert_selectors.AlertFilters(
                kind=data.get("kind", ""),
                route=str(data["driver"]) if "driver" in data else "",
                state=alert_selectors.OPEN if data["open"] else alert_selectors.ALL,
            ),
        )
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
        alert_resolve(alert=alert, by=request.user)
        alert.refresh_from_db()
        return Response(AlertOutput(alert).data)


class AlertBulkResolveApi(APIView):
    permission_classes = [IsOfficeStaff]
    # JSON only: a form of 1,000 ids would pass Django's limit on form fields (DATA_UPLOAD_MAX_NUMBER_FIELDS).
    parser_classes = [JSONParser]

    class InputSerializer(serializers.Serializer):
        alerts = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),  # a row id the database can hold
            min_length=1,
            max_length=alerts.MAX_BULK_RESOLVE,
            help_text=f"Ids of the alerts to resolve (1 to {alerts.MAX_BULK_RESOLVE})",
        )

    class OutputSerializer(serializers.Serializer):
        resolved = serializers.ListField(child=serializers.IntegerField(), help_text="Resolved by this request")
        already_resolved = serializers.ListField(
            child=serializers.IntegerField(), help_text="Resolved before (by someone else, or automatically)"
        )
        not_found = serializers.ListField(
            child=serializers.IntegerField(), help_text="No such alert in the user's depots: left alone"
        )

    @extend_schema(
        request=InputSerializer,
        responses=OutputSerializer,
        operation_id="alerts_resolve_many",
        description=(
            "Resolve many alerts in one request. Each alert is checked on its own: an alert of a depot the "
            "user does not see is reported in `not_found` and left alone (as the single resolve answers 404), "
            "the others are resolved. Resolving an alert that is already resolved changes nothing."
        ),
    )
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        result = alerts.alerts_resolve_many(user=request.user, alert_ids=payload.validated_data["alerts"])
        return Response(self.OutputSerializer(result).data)
