"""REST endpoints of the analytics app (API.md: Analytics)."""

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import eta_accuracy, partners, selectors
from analytics.export import csv_chunks, csv_chunks_async
from analytics.inputs import kpi_filters_from_query
from dispatch.partners import selectors as partner_selectors
from dispatch.permissions import IsManager, IsOfficeStaff, IsPartner

QUERY_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First day (default: 29 days before `to`)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (default: today)"),
    OpenApiParameter("depot", str, description="Depot code or id"),
    OpenApiParameter("zone", str, description="Zone code or id"),
    OpenApiParameter("driver", int, description="Driver id"),
    OpenApiParameter("vehicle_kind", str, enum=["van", "car", "cargo_bike", "bike", "drone"]),
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


class PartnerFiguresApi(APIView):
    """Courier partners against our own fleet (issue 20): cost per delivery of each side, each partner's
    on-time and first-attempt rates, and the share of orders handed off per zone (analytics.partners)."""

    permission_classes = [IsOfficeStaff]

    @extend_schema(parameters=QUERY_PARAMETERS, responses=OpenApiTypes.OBJECT, operation_id="analytics_partners")
    def get(self, request):
        filters = kpi_filters_from_query(user=request.user, query=request.query_params)
        return Response({"from": filters.date_from, "to": filters.date_to, **partners.partner_figures(filters)})


class EtaAccuracyApi(APIView):
    """ETA accuracy (issue 18) of the orders dated in a range: the ETA's mean and p90 absolute error at
    dispatch, about an hour before the arrival ("hour") and live, window coverage, the share of promises
    moved and the windows' median width, in total, per day and per travel model version; the latest
    model versions with their held-out scores; and the doorstep the active model learned per zone
    (analytics.eta_accuracy says how each is counted)."""

    permission_classes = [IsOfficeStaff]

    @extend_schema(parameters=QUERY_PARAMETERS, responses=OpenApiTypes.OBJECT, operation_id="analytics_eta_accuracy")
    def get(self, request):
        filters = kpi_filters_from_query(user=request.user, query=request.query_params)
        return Response(
            {
                "from": filters.date_from,
                "to": filters.date_to,
                **eta_accuracy.eta_accuracy(filters),
                "service_times": eta_accuracy.service_time_table(),
            }
        )


MONTH_PARAMETER = OpenApiParameter(
    "month", str, required=True, description="YYYY-MM: the orders handed over dated in that month"
)
STATEMENT_RESPONSES = {(200, "text/csv"): OpenApiTypes.STR}


def _statement_response(partner, month) -> HttpResponse:
    response = HttpResponse(
        partners.statement_csv(partner=partner, month=month), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{partners.statement_filename(partner=partner, month=month)}"'
    )
    return response


class PartnerStatementApi(APIView):
    """A partner's monthly statement as CSV (managers): each order handed to it dated in the month, its
    status and outcome, the price in parts (per stop, per weight, zone extra) and the billed total."""

    permission_classes = [IsManager]

    @extend_schema(
        parameters=[MONTH_PARAMETER], responses=STATEMENT_RESPONSES, operation_id="analytics_partner_statement"
    )
    def get(self, request, code: str):
        partner = partner_selectors.partner_by_code(code)
        return _statement_response(partner, partners.month_from_query(request.query_params.get("month")))


class PartnerOwnStatementApi(APIView):
    """The partner's own monthly statement as CSV (its login): the same file the company's managers get."""

    permission_classes = [IsPartner]

    @extend_schema(parameters=[MONTH_PARAMETER], responses=STATEMENT_RESPONSES, operation_id="partner_statement")
    def get(self, request):
        month = partners.month_from_query(request.query_params.get("month"))
        return _statement_response(partner_selectors.partner_for_user(request.user), month)
