from django.urls import path

from dispatch import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("orders/import/", views.order_import, name="order_import"),
]

# The live map (dispatch/live_views.py).
from dispatch import live_views  # noqa: E402

urlpatterns += [path("live/", live_views.live_map, name="live")]
