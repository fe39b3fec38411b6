"""The API reference pages, served from our own static files under the application's CSP.

Swagger UI is drf-spectacular's "split" view (config/urls.py): its set-up script is a second
request (`?script`), not an inline block; templates/drf_spectacular/swagger_ui.html gives its one
style block the nonce. Redoc injects its styles at run time (styled-components), so its page alone allows
inline styles and a blob: worker (its search index); scripts stay 'self' only.
"""

from drf_spectacular.views import SpectacularRedocView

from config.security_headers import content_security_policy


class ApiRedocView(SpectacularRedocView):
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = content_security_policy(
            request, style_src="'self' 'unsafe-inline'", worker_src="'self' blob:"
        )
        return response
