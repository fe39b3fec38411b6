"""Pages of the analytics app (included at the site root by config.urls)."""

from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("analytics/", views.overview, name="overview"),
]
