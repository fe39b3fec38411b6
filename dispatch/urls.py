from django.urls import path

from dispatch import apis

urlpatterns = [
    path("depots/", apis.DepotListApi.as_view(), name="api_depots"),
    path("depots/<str:depot_id>/", apis.DepotDetailApi.as_view(), name="api_depot"),
    path("vehicles/", apis.VehicleListApi.as_view(), name="api_vehicles"),
    path("vehicles/<int:vehicle_id>/", apis.VehicleDetailApi.as_view(), name="api_vehicle"),
    path("drivers/", apis.DriverListApi.as_view(), name="api_drivers"),
    path("orders/", apis.OrderListApi.as_view(), name="api_orders"),
    path("orders/import/", apis.OrderImportApi.as_view(), name="api_orders_import"),
    path("orders/<int:order_id>/", apis.OrderDetailApi.as_view(), name="api_order"),
]

# The driver's phone app (API.md: Drivers).
from dispatch import driver_apis  # noqa: E402 - appended so each part of the API keeps its own block

urlpatterns += [
    path("driver/route/", driver_apis.DriverRouteApi.as_view(), name="api_driver_route"),
    path("driver/stops/<int:stop_id>/arrive/", driver_apis.StopArriveApi.as_view(), name="api_driver_stop_arrive"),
    path("driver/stops/<int:stop_id>/deliver/", driver_apis.StopDeliverApi.as_view(), name="api_driver_stop_deliver"),
    path("driver/stops/<int:stop_id>/fail/", driver_apis.StopFailApi.as_view(), name="api_driver_stop_fail"),
]

# Positions from the driver's phone (API.md: Drivers; the live backbone).
from dispatch import driver_position_apis  # noqa: E402 - appended so each part of the API keeps its own block

urlpatterns += [
    path("driver/positions/", driver_position_apis.driver_positions_view, name="api_driver_positions"),
]

# Alerts for the dashboards (live operations).
from dispatch import alert_apis  # noqa: E402 - appended so each part of the API keeps its own block

urlpatterns += [
    path("alerts/", alert_apis.AlertListApi.as_view(), name="api_alerts"),
    path("alerts/resolve/", alert_apis.AlertBulkResolveApi.as_view(), name="api_alerts_resolve"),
    path("alerts/<int:alert_id>/resolve/", alert_apis.AlertResolveApi.as_view(), name="api_alert_resolve"),
]
