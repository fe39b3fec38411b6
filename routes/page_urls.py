"""Pages of the routes app (included at the site root by config.urls)."""

from django.urls import path

from routes.closures import views as closure_views
from routes.plans import views

app_name = "routes"

urlpatterns = [
    path("plans/", views.plans, name="plans"),
    path("plans/<int:plan_id>/", views.plan_detail, name="plan_detail"),
    path("closures/", closure_views.closures, name="closures"),
]
