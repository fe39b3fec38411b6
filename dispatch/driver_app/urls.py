from django.urls import path

from dispatch.driver_app import views as driver_views

app_name = "driver"

urlpatterns = [
    path("", driver_views.driver_app, name="app"),
    path("sw.js", driver_views.service_worker, name="service_worker"),
]
