"""The JSON API of dispatch (API.md), mounted under /api/ by config.urls: the fleet, orders, the driver's
phone and alerts. Each concern keeps its own views; this module only wires them."""

from django.urls import path

from dispatch.driver_app import apis as driver_apis
from dispatch.driver_app import position_apis as driver_position_apis
from dispatch.fleet import apis as fleet_apis
from dispatch.live import alert_apis
from dispatch.order_desk import apis as order_desk_apis
from dispatch.order_desk import slot_apis
from dispatch.partners import apis as partner_apis

urlpatterns = [
    path("depots/", fleet_apis.DepotListApi.as_view(), name="api_depots"),
    path("depots/<str:depot_id>/", fleet_apis.DepotDetailApi.as_view(), name="api_depot"),
    path("vehicles/", fleet_apis.VehicleListApi.as_view(), name="api_vehicles"),
    path("vehicles/<int:vehicle_id>/", fleet_apis.VehicleDetailApi.as_view(), name="api_vehicle"),
    path("drivers/", fleet_apis.DriverListApi.as_view(), name="api_drivers"),
    path("orders/", order_desk_apis.OrderListApi.as_view(), name="api_orders"),
    path("orders/import/", order_desk_apis.OrderImportApi.as_view(), name="api_orders_import"),
    path("orders/<int:order_id>/", order_desk_apis.OrderDetailApi.as_view(), name="api_order"),
    path("orders/<int:order_id>/handoff/", partner_apis.OrderHandoffApi.as_view(), name="api_order_handoff"),
    path(
        "orders/<int:order_id>/handoff/cancel/",
        partner_apis.OrderHandoffCancelApi.as_view(),
        name="api_order_handoff_cancel",
    ),
    path("partner/positions/", partner_apis.PartnerPositionsApi.as_view(), name="api_partner_positions"),
    # Courier partners (API.md: Courier partners): managers keep them; partner logins act on their orders.
    path("partners/", partner_apis.PartnerListApi.as_view(), name="api_partners"),
    path("partners/<str:code>/users/", partner_apis.PartnerUserCreateApi.as_view(), name="api_partner_users"),
    path("partner/orders/", partner_apis.PartnerOrderListApi.as_view(), name="api_partner_orders"),
    path(
        "partner/orders/<int:order_id>/accept/", partner_apis.PartnerOrderAcceptApi.as_view(), name="api_partner_accept"
    ),
    path(
        "partner/orders/<int:order_id>/reject/", partner_apis.PartnerOrderRejectApi.as_view(), name="api_partner_reject"
    ),
    path(
        "partner/orders/<int:order_id>/arrive/", partner_apis.PartnerOrderArriveApi.as_view(), name="api_partner_arrive"
    ),
    path(
        "partner/orders/<int:order_id>/deliver/",
        partner_apis.PartnerOrderDeliverApi.as_view(),
        name="api_partner_deliver",
    ),
    path("partner/orders/<int:order_id>/fail/", partner_apis.PartnerOrderFailApi.as_view(), name="api_partner_fail"),
    # The driver's phone app (API.md: Drivers), and its positions (the live backbone).
    path("driver/route/", driver_apis.DriverRouteApi.as_view(), name="api_driver_route"),
    path("driver/stops/<int:stop_id>/arrive/", driver_apis.StopArriveApi.as_view(), name="api_driver_stop_arrive"),
    path("driver/stops/<int:stop_id>/deliver/", driver_apis.StopDeliverApi.as_view(), name="api_driver_stop_deliver"),
    path("driver/stops/<int:stop_id>/fail/", driver_apis.StopFailApi.as_view(), name="api_driver_stop_fail"),
    path("driver/positions/", driver_position_apis.driver_positions_view, name="api_driver_positions"),
    # Alerts for the dashboards (live operations).
    path("alerts/", alert_apis.AlertListApi.as_view(), name="api_alerts"),
    path("alerts/resolve/", alert_apis.AlertBulkResolveApi.as_view(), name="api_alerts_resolve"),
    path("alerts/<int:alert_id>/resolve/", alert_apis.AlertResolveApi.as_view(), name="api_alert_resolve"),
]

# A web shop books an order into a delivery slot it was offered (API.md: Slots; routes.slots).
urlpatterns += [
    path("slots/book/", slot_apis.SlotBookApi.as_view(), name="api_slots_book"),
]
