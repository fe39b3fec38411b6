"""One error shape for every API error: {"errors": [{"row"?, "field", "value", "message"}], "detail"}."""

import re

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.utils.translation import gettext
from django.views import defaults
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.errors import DomainError


def _flatten(detail, field="") -> list[dict]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            if isinstance(key, int):  # a ListField's per-item errors, keyed by index (0 included)
                out.extend(_flatten(value, f"{field}[{key}]"))
                continue
            name = key if key != "non_field_errors" else ""
            out.extend(_flatten(value, f"{field}.{name}" if field and name else (name or field)))
        return out
    if isinstance(detail, list):
        out = []
        for index, item in enumerate(detail):
            if isinstance(item, (dict, list)):
                out.extend(_flatten(item, f"{field}[{index}]" if field else str(index)))
            else:
                out.append({"field": field, "message": str(item)})
        return out
    return [{"field": field, "message": str(detail)}]


_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _value_at(data, path: str):
    """The submitted value at an error path like "points[3].lat", so errors say what was wrong."""
    current = data
    if not path:
        return False, None
    for name, index in _PATH_TOKEN.findall(path):
        try:
            current = current[int(index)] if index else current[name]
        except (KeyError, IndexError, TypeError, ValueError):
            return False, None
    if isinstance(current, (dict, list)) or hasattr(current, "read"):
        return False, None  # whole objects and uploaded files are not echoed back
    return True, current


def api_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message, "errors": exc.errors}, status=exc.status_code)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        request = context.get("request")
        data = getattr(request, "data", {}) if request is not None else {}
        errors = _flatten(exc.detail)
        for error in errors:
            found, value = _value_at(data, error["field"])
            if found and "password" not in error["field"]:  # never echo a secret into responses and logs
                error["value"] = value
        response.data = {"detail": gettext("Invalid input"), "errors": errors}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"]), "errors": []}
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    """handler404: a path under /api/ that matches no route (`/api/orders/abc/`) answers in the API's shape."""
    if _is_api(request):
        return JsonResponse({"detail": gettext("Not found."), "errors": []}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """handler500: API clients get JSON they can parse, pages keep the HTML page."""
    if _is_api(request):
        return JsonResponse({"detail": gettext("Server error"), "errors": []}, status=500)
    return defaults.server_error(request)
