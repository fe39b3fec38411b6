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
    path("inbox/", order_views.inbox, name="inbox"),
]

# The live map (dispatch/live_views.py).
from dispatch import live_views  # noqa: E402

urlpatterns += [path("live/", live_views.live_map, name="live")]
