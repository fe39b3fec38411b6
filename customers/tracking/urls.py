from django.urls import path

from customers.tracking import views

app_name = "customers"

urlpatterns = [
    path("<str:token>/", views.tracking_page, name="tracking_page"),
    path("<str:token>/proof/<str:kind>/", views.tracking_proof_file, name="tracking_proof_file"),
]
