"""The driver's phone app: one page (the route, the next stop, the actions) and its service worker.

The page is served with today's route embedded, so it shows at once; static/js/driver.js keeps it
current (polling GET /api/driver/route/ and, when the live socket exists, /ws/driver/), queues the
stop actions while offline and sends the phone's position.
"""

from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.templatetags.static import static
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.utils.translation.trans_real import DjangoTranslation
from django.views.decorators.cache import never_cache
from django.views.i18n import JavaScriptCatalog

from dispatch.driver_app import selectors as driver_selectors
from dispatch.driver_app.apis import DriverRouteOutput
from dispatch.driver_app.services import FAIL_REASONS, PROOF_IMAGE_MAX_BYTES
from dispatch.maps.basemap import base_map_assets, base_map_options
from dispatch.maps.drawing import OSM_CREDIT
from dispatch.roles import is_driver
from routes.plans import selectors as plan_selectors

FAIL_REASON_LABELS = {
    "not_home": _("Nobody home"), "no_access": _("No access"), "refused": _("Refused"), "damaged": _("Damaged"),
    "wrong_address": _("Wrong address"), "other": _("Other (say what)"),
}  # fmt: skip
# What the service worker keeps for offline use; the page itself is cached as it is fetched. Every file
# the page loads is here (the route map's Leaflet, its modules and what they import), else the page
# opened without signal would miss it.
APP_SHELL = (
    "css/driver.css", "js/driver.js", "driver/manifest.webmanifest", "driver/icon-192.png", "driver/icon-512.png",
    "driver/icon.svg",
    "vendor/leaflet/leaflet.css", "vendor/leaflet/leaflet.js", "css/maps.css",
    "js/driver_map.js", "js/lib/map_layers.js", "js/lib/dom.js", "js/lib/i18n.js",
)  # fmt: skip


def driver_required(view):
    """Anonymous visitors go to the login page; anybody who is not a driver gets a 403 page."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not (is_driver(request.user) and hasattr(request.user, "driver")):
            return render(request, "dispatch/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _js_catalog() -> dict:
    """static/js/driver.js's texts (locale/*/djangojs.po) in the active language, as /jsi18n/ serves them
    (msgid -> text, or [singular, plural]); the page embeds them so that they work offline too."""
    catalog = JavaScriptCatalog()
    catalog.translation = DjangoTranslation(get_language(), domain="djangojs")
    return catalog.get_catalog()


def _route_map() -> dict:
    """What the route map draws under the route (static/js/driver_map.js): the company's tile server
    (MAP_TILE_URL), else the region's vector tiles the app serves (None before they are built)."""
    tile_url = settings.MAP_TILE_URL
    return {
        "base_map": None if tile_url else base_map_options(),
        "tile_url": tile_url,
        "tile_attribution": settings.MAP_TILE_ATTRIBUTION if tile_url else "",
        "osm_credit": OSM_CREDIT,
    }


def _base_map_files(route_map: dict) -> tuple[list[str], list[str]]:
    """(scripts, stylesheets) the page loads to draw the base map; none without it."""
    return base_map_assets() if route_map["base_map"] else ([], [])


# The phone learns of a new plan version by polling GET /api/driver/route/; driver.js would also listen on
# a /ws/driver/ socket, but config.routing serves none (the dashboards' and the tracking page's only).
LIVE_SOCKET_PATH = None


@never_cache
@driver_required
def driver_app(request):
    driver = driver_selectors.driver_for_user(request.user)
    route = plan_selectors.driver_route(driver)
    route_map = _route_map()
    base_map_scripts, base_map_css = _base_map_files(route_map)
    context = {
        "driver": driver,
        "base_map_scripts": base_map_scripts,
        "base_map_css": base_map_css,
        "initial": {
            "route": DriverRouteOutput(route).data if route else None,
            "driver": {"id": driver.pk, "name": driver.name},
            "time_zone": settings.TIME_ZONE,  # times on the phone in the company's zone, whatever the phone's
            "fail_reasons": [{"value": r, "label": str(FAIL_REASON_LABELS[r])} for r in FAIL_REASONS],
            "max_image_bytes": PROOF_IMAGE_MAX_BYTES,
            "live_socket": LIVE_SOCKET_PATH,
            "map": route_map,
            # The page may come from the service worker's cache: the app compares this with what it saved.
            "generated_at": timezone.now().isoformat(),
        },
    }
    context["js_catalog"] = _js_catalog()
    return render(request, "driver/app.html", context)


@never_cache
def service_worker(request):
    """The service worker, served from /driver/ so that its scope is the driver app (not all of /static/)."""
    route_map = _route_map()
    scripts, stylesheets = _base_map_files(route_map)
    # The worker MapLibre starts is loaded by the page too (by script, not by a tag).
    worker = [route_map["base_map"]["worker"]] if route_map["base_map"] else []
    shell = [static(path) for path in APP_SHELL] + scripts + stylesheets + worker
    response = render(
        request, "driver/sw.js", {"shell": shell, "version": "|".join(shell)}, content_type="text/javascript"
    )
    response["Service-Worker-Allowed"] = "/driver/"
    return response
