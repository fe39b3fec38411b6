from django.urls import path

from analytics import apis

urlpatterns = [
    path("analytics/kpis/", apis.KpiApi.as_view(), name="api_analytics_kpis"),
    path("analytics/export.csv", apis.ExportCsvApi.as_view(), name="api_analytics_export"),
]
