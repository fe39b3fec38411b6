"""OpenAPI schema generation tweaks."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer, direction):
        # Views nest small serializers all named InputSerializer / FilterSerializer; name their
        # components after the view ("PlanListApi.InputSerializer" -> "PlanListInput") so they never collide.
        qualified = serializer.__class__.__qualname__
        if "." in qualified:
            outer, inner = qualified.rsplit(".", 1)
            return outer.removesuffix("Api") + inner.removesuffix("Serializer")
        return super().get_serializer_name(serializer, direction)
