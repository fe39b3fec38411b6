"""OpenAPI schema generation tweaks: component names, and the error answers every operation can give."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

TIME_OF_DAY = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"


class ErrorSerializer(serializers.Serializer):
    """The one error shape of config.exceptions: what was wrong, where, and the value."""

    class ItemSerializer(serializers.Serializer):
        row = serializers.IntegerField(required=False, help_text="The CSV row, for imports (header = row 1)")
        field = serializers.CharField(allow_blank=True)
        value = serializers.JSONField(required=False, allow_null=True, help_text="The submitted value, when useful")
        message = serializers.CharField()

    detail = serializers.CharField()
    errors = ItemSerializer(many=True)


def error_response(description: str) -> OpenApiResponse:
    """An error answer an endpoint documents itself (409 for a state conflict, 503 for no road network...)."""
    return OpenApiResponse(ErrorSerializer, description=description)


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer, direction):
        # Views nest small serializers all named InputSerializer / FilterSerializer; name their
        # components after the view ("PlanListApi.InputSerializer" -> "PlanListInput") so they never collide.
        qualified = serializer.__class__.__qualname__
        if "." in qualified:
            outer, inner = qualified.rsplit(".", 1)
            return outer.removesuffix("Api") + inner.removesuffix("Serializer")
        return super().get_serializer_name(serializer, direction)

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if isinstance(field, serializers.TimeField):
            # A local time of day, "08:00" (seconds optional on input). Not OpenAPI's format "time":
            # that is RFC 3339's full-time, which requires an offset a depot's opening hours do not have.
            schema = {"type": "string", "pattern": TIME_OF_DAY, "example": "08:00"}
            if field.allow_null:
                schema["nullable"] = True
            return schema
        return super()._map_serializer_field(field, direction, bypass_extensions)

    def _get_response_bodies(self, direction="response"):
        # The error answers that follow from how the view is built; an endpoint's own (409, 503...)
        # come from its @extend_schema(responses=...).
        responses = super()._get_response_bodies(direction)
        for code, description in self._generic_errors():
            if code not in responses:
                responses[code] = self._get_response_for_code(error_response(description), code, direction=direction)
        return responses

    def _generic_errors(self) -> list[tuple[str, str]]:
        errors = []
        has_body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
        has_query = any(parameter["in"] == "query" for parameter in self._get_parameters())
        if has_body or has_query:
            errors.append(("400", "Invalid input: every error with its field and value"))
        if self.view.get_authenticators():
            # An unknown or malformed token is refused whatever the endpoint's permissions.
            errors.append(("401", "Not authenticated, or an unknown token"))
        if not all(isinstance(permission, AllowAny) for permission in self.view.get_permissions()):
            errors.append(("403", "This role may not do this"))
        if "{" in self.path:
            errors.append(("404", "Not found, or not one of yours (another depot's object answers 404)"))
        if has_body:
            errors.append(("415", "Unsupported content type"))
        return errors
