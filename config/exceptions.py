"""One error shape for every API error: {"errors": [{"row"?, "field", "value", "message"}], "detail"}."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from dispatch.errors import DispatchError


def _flatten(detail, field="") -> list[dict]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
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


def api_exception_handler(exc, context):
    if isinstance(exc, DispatchError):
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
            top = error["field"].split(".")[0].split("[")[0]
            if isinstance(data, dict) and top in data:
                error["value"] = data.get(top)
        response.data = {"detail": "Invalid input", "errors": errors}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"]), "errors": []}
    return response
