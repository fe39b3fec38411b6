"""The dispatcher's pages (included at the site root by config.urls, namespace `dashboard`): Today and the
import, the order's page and the inbox (dispatch.order_desk), the live map and the alerts (dispatch.live).
This module only wires them; nothing imports it."""

from django.urls import path

from dispatch.live import alert_views
from dispatch.live import views as live_views
from dispatch.order_desk import order_views, views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("orders/import/", views.order_import, name="order_import"),
    # The order's page with its log, its changes and its customer messages; the inbox.
    path("orders/<int:order_id>/", order_views.order_detail, name="order_detail"),
    path("orders/<int:order_id>/reply/", order_views.order_reply, name="order_reply"),
    path("orders/<int:order_id>/tracking-link/", order_views.order_tracking_reissue, name="order_tracking_reissue"),
    path("orders/<int:order_id>/reschedule/", order_views.order_reschedule, name="order_reschedule"),
    path("orders/<int:order_id>/edit/", order_views.order_edit, name="order_edit"),
    path("orders/<int:order_id>/cancel/", order_views.order_cancel, name="order_cancel"),
    path("orders/<int:order_id>/move/", order_views.order_move, name="order_move"),
    path("orders/<int:order_id>/hand-off/", order_views.order_hand_off, name="order_hand_off"),
    path("orders/<int:order_id>/take-back/", order_views.order_take_back, name="order_take_back"),
    path(
        "orders/<int:order_id>/proofs/<int:proof_id>/<str:kind>/", order_views.order_proof_file, name="order_proof_file"
    ),
    path("inbox/", order_views.inbox, name="inbox"),
    path("live/", live_views.live_map, name="live"),
    # Every alert of the user's depots, grouped, filtered, resolved in bulk.
    path("alerts/", alert_views.alert_list, name="alerts"),
    path("alerts/resolve/", alert_views.alerts_resolve, name="alerts_resolve"),
]
