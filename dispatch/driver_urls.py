from django.urls import path

from dispatch import driver_views

app_name = "driver"

urlpatterns = [
    path("", driver_views.driver_app, name="app"),
    path("sw.js", driver_views.service_worker, name="service_worker"),
]
