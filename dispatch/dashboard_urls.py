from django.urls import path

from dispatch import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("orders/import/", views.order_import, name="order_import"),
]

# Customer communication: an order's page with its log, and the inbox (dispatch/order_views.py).
from dispatch import order_views  # noqa: E402

urlpatterns += [
    path("orders/<int:order_id>/", order_views.order_detail, name="order_detail"),
    path("orders/<int:order_id>/reply/", order_views.order_reply, name="order_reply"),
    path("orders/<int:order_id>/tracking-link/", order_views.order_tracking_reissue, name="order_tracking_reissue"),
    path("orders/<int:order_id>/reschedule/", order_views.order_reschedule, name="order_reschedule"),
    path("orders/<int:order_id>/edit/", order_views.order_edit, name="order_edit"),
    path("orders/<int:order_id>/cancel/", order_views.order_cancel, name="order_cancel"),
    path("orders/<int:order_id>/move/", order_views.order_move, name="order_move"),
    path(
        "orders/<int:order_id>/proofs/<int:proof_id>/<str:kind>/", order_views.order_proof_file, name="order_proof_file"
    ),
    path("inbox/", order_views.inbox, name="inbox"),
]

# The live map (dispatch/live_views.py).
from dispatch import live_views  # noqa: E402

urlpatterns += [path("live/", live_views.live_map, name="live")]

# Alerts: every alert of the user's depots, grouped, filtered, resolved in bulk (dispatch/alert_views.py).
from dispatch import alert_views  # noqa: E402

urlpatterns += [
    path("alerts/", alert_views.alert_list, name="alerts"),
    path("alerts/resolve/", alert_views.alerts_resolve, name="alerts_resolve"),
]
