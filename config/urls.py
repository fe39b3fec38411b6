from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authtoken.views import ObtainAuthToken

from config.api_docs import ApiRedocView
from config.favicon import favicon
from config.health import healthz
from config.metrics_endpoint import metrics_view
from customers.personal_data.admin_views import personal_data_view
from dispatch.language import set_language
from dispatch.maps.views import map_glyphs, map_tile

handler404 = "config.exceptions.not_found"
handler500 = "config.exceptions.server_error"

api_patterns = [
    path("auth/token/", ObtainAuthToken.as_view(), name="api_token"),
    path("", include("dispatch.urls")),
    path("", include("routes.urls")),
    path("", include("customers.api_urls")),
    path("", include("analytics.urls")),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's): answer it, not a 404.
    path("favicon.ico", favicon),
    path("metrics", metrics_view, name="metrics"),
    path("map/tiles/<int:z>/<int:x>/<int:y>.pbf", map_tile, name="map_tile"),
    path("map/fonts/<str:fontstack>/<int:start>-<int:end>.pbf", map_glyphs, name="map_glyphs"),
    # Before the admin's own URLs: a page of the admin site, for managers (customers.personal_data.services).
    path("admin/personal-data/", admin.site.admin_view(personal_data_view), name="admin_personal_data"),
    path("admin/", admin.site.urls),
    # The language switcher (dispatch/language.py) and the JavaScript texts of the active language.
    path("language/", set_language, name="set_language"),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript_catalog"),
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # The split view serves its set-up script as a file (?script), not inline: see config/api_docs.py.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
    path("api/redoc/", ApiRedocView.as_view(url_name="api_schema"), name="api_redoc"),
    path("api/", include(api_patterns)),
    path("t/", include("customers.tracking.urls")),
    path("driver/", include("dispatch.driver_app.urls")),
    path("", include("dispatch.dashboard_urls")),
    path("", include("routes.page_urls")),
    path("", include("analytics.page_urls")),
]
