from django.urls import path

from dispatch import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("orders/import/", views.order_import, name="order_import"),
]
