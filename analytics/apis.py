"""REST endpoints of the analytics app (API.md: Analytics)."""

from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import selectors
from analytics.export import csv_chunks, csv_chunks_async
from analytics.inputs import kpi_filters_from_query
from dispatch.permissions import IsOfficeStaff

QUERY_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First day (default: 29 days before `to`)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (default: today)"),
    OpenApiParameter("depot", str, description="Depot code or id"),
    OpenApiParameter("zone", str, description="Zone code or id"),
    OpenApiParameter("driver", int, description="Driver id"),
    OpenApiParameter("vehicle_kind", str, enum=["van", "car", "cargo_bike", "bike"]),
]


class KpiApi(APIView):
    """Delivery KPIs of the orders dated in a range (managers: all depots; dispatchers: their depots)."""

    permission_classes = [IsOfficeStaff]

    @extend_schema(parameters=QUERY_PARAMETERS, responses=OpenApiTypes.OBJECT, operation_id="analytics_kpis")
    def get(self, request):
        filters = kpi_filters_from_query(user=request.user, query=request.query_params)
        result = selectors.kpis(filters)
        return Response({"from": filters.date_from, "to": filters.date_to, **result})


class ExportCsvApi(APIView):
    """One CSV row per order dated in the range, with planned and actual times (streamed)."""

    permission_classes = [IsOfficeStaff]

    @extend_schema(
        parameters=QUERY_PARAMETERS, responses={(200, "text/csv"): OpenApiTypes.STR}, operation_id="analytics_export"
    )
    def get(self, request):
        filters = kpi_filters_from_query(user=request.user, query=request.query_params)
        chunks = csv_chunks_async(filters) if isinstance(request._request, ASGIRequest) else csv_chunks(filters)
        response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="deliveries-{filters.date_from:%Y%m%d}-{filters.date_to:%Y%m%d}.csv"'
        )
        return response
