"""A database that is down (restarting, failing over, out of connections) answers 503, not 500.

Without this, django.db.OperationalError escapes DRF's exception handler (it is not an API
exception) and becomes a 500 with a traceback in the log for every request of the outage. A 503
with Retry-After tells clients and load balancers the truth: try again shortly. The broken
connection is closed here, so the next request opens a fresh one (CONN_HEALTH_CHECKS does the same
for connections that died between requests).
"""

import logging

from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.http import HttpResponse, JsonResponse

logger = logging.getLogger(__name__)
RETRY_AFTER_S = 5
MESSAGE = "The database is unavailable; try again in a few seconds"


def _is_outage(exc: Exception) -> bool:
    if isinstance(exc, InterfaceError):  # the connection is closed or unusable
        return True
    if not isinstance(exc, OperationalError):
        return False
    # SQLite's "database is locked" is an OperationalError too, but the database is up: keep it a 500.
    return "locked" not in str(exc).lower()


class DatabaseOutageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        if not isinstance(exc, DatabaseError) or not _is_outage(exc):
            return None
        logger.warning("database unavailable for %s %s: %s", request.method, request.path, exc)
        for connection in connections.all(initialized_only=True):
            connection.close_if_unusable_or_obsolete()
        if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
            response = JsonResponse(
                {"detail": MESSAGE, "errors": [{"field": "", "value": None, "message": MESSAGE}]}, status=503
            )
        else:
            response = HttpResponse(MESSAGE + ".\n", status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_S)
        return response
