"""Security headers on every response the application sends: pages, API, admin, static files, errors.

Django's SecurityMiddleware sends HSTS (on HTTPS, when SECURE_HSTS_SECONDS is set), nosniff,
Referrer-Policy and Cross-Origin-Opener-Policy; XFrameOptionsMiddleware sends X-Frame-Options.
This middleware adds the two Django 5.2 does not have:

- Content-Security-Policy: scripts only from our own origin, plus inline code that carries this
  response's nonce. The dashboard's maps are folium documents in `<iframe srcdoc>`; a srcdoc
  document inherits the page's policy, so dispatch.maps.drawing stamps its inline elements with the same
  nonce (`current_csp_nonce()`). Inline `style="…"` attributes stay allowed (colour swatches, Leaflet
  markers): they cannot run code.
- Permissions-Policy: the browser features a page may use. Geolocation for the driver app's
  position stream, the camera for proof-of-delivery photos, nothing else.

A view that needs a different policy sets its own Content-Security-Policy header (the customer
tracking page sends a stricter one; the API reference lets Redoc inject its styles); this
middleware never replaces a header that a view already set.
"""

import secrets
from contextvars import ContextVar
from urllib.parse import urlsplit

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import DisallowedHost

PERMISSIONS_POLICY = ", ".join(
    (
        "accelerometer=()",
        "camera=(self)",  # proof-of-delivery photos in the driver app
        "display-capture=()",
        "geolocation=(self)",  # the driver app streams the phone's position
        "gyroscope=()",
        "magnetometer=()",
        "microphone=()",
        "payment=()",
        "usb=()",
    )
)

# The nonce of the request being answered, for code that renders HTML without the request at hand
# (the folium maps). Empty outside a request.
_current_nonce: ContextVar[str] = ContextVar("csp_nonce", default="")


def current_csp_nonce() -> str:
    return _current_nonce.get()


def tile_source() -> str:
    """The origin of settings.MAP_TILE_URL as a CSP source ("" without tiles); {s} subdomains become *."""
    if not settings.MAP_TILE_URL:
        return ""
    parts = urlsplit(settings.MAP_TILE_URL)
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"


def _socket_sources(request) -> str:
    # 'self' covers same-host WebSockets in CSP 3 but not in every browser still in use.
    try:
        host = request.get_host()
    except DisallowedHost:  # the 400 for a bad Host header gets a policy too, without the host
        return ""
    return f"ws://{host} wss://{host}"


def content_security_policy(request, **overrides: str) -> str:
    """The application's policy for `request`; `overrides` replace directives (style_src=… for style-src)."""
    nonce = f"'nonce-{request.csp_nonce}'" if getattr(request, "csp_nonce", "") else ""
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' {nonce}",
        "style-src": f"'self' {nonce}",
        "style-src-attr": "'unsafe-inline'",
        "img-src": f"'self' data: {tile_source()}",
        "font-src": "'self'",
        "connect-src": f"'self' {_socket_sources(request)}",
        "worker-src": "'self'",
        "manifest-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    directives.update({name.replace("_", "-"): value for name, value in overrides.items()})
    return "; ".join(f"{name} {' '.join(value.split())}" for name, value in directives.items())


def add_security_headers(request, response):
    """The two headers above, unless the view set its own (also used by dispatch.live.position_intake)."""
    if "Content-Security-Policy" not in response:
        response["Content-Security-Policy"] = content_security_policy(request)
    response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    return response


class SecurityHeadersMiddleware:
    """Sets request.csp_nonce, and the headers above on every response. Runs sync or async."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        token = self._start(request)
        try:
            response = self.get_response(request)
        finally:
            _current_nonce.reset(token)
        return add_security_headers(request, response)

    async def __acall__(self, request):
        token = self._start(request)
        try:
            response = await self.get_response(request)
        finally:
            _current_nonce.reset(token)
        return add_security_headers(request, response)

    @staticmethod
    def _start(request):
        request.csp_nonce = secrets.token_urlsafe(18)
        return _current_nonce.set(request.csp_nonce)


def csp_nonce(request) -> dict:
    """Template context processor: `{{ csp_nonce }}` for the rare inline element a template needs."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}
