from django.urls import path

from customers import views

app_name = "customers"

urlpatterns = [
    path("<str:token>/", views.tracking_page, name="tracking_page"),
]
