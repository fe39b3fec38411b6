from django.urls import path

from analytics import apis

urlpatterns = [
    path("analytics/kpis/", apis.KpiApi.as_view(), name="api_analytics_kpis"),
    # ETA accuracy (issue 18): errors per horizon, window coverage, per day and per travel model version.
    path("analytics/eta-accuracy/", apis.EtaAccuracyApi.as_view(), name="api_analytics_eta_accuracy"),
    path("analytics/export.csv", apis.ExportCsvApi.as_view(), name="api_analytics_export"),
    # Courier partners (issue 20): own fleet against partners, and each partner's monthly statement.
    path("analytics/partners/", apis.PartnerFiguresApi.as_view(), name="api_analytics_partners"),
    path(
        "analytics/partners/<str:code>/statement.csv",
        apis.PartnerStatementApi.as_view(),
        name="api_analytics_partner_statement",
    ),
    path("partner/statement/", apis.PartnerOwnStatementApi.as_view(), name="api_partner_statement"),
]
