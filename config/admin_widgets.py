"""Form widgets the admin customizations of every app share.

The admin's own widgets render through the form renderer, whose template engine sees only the
apps' template folders; ours live in templates/admin/widgets/ (the project's folder), so
`ProjectTemplateWidget` renders them with the project's engine instead of changing FORM_RENDERER
for every form of the site.
"""

import re

from django import forms
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class ProjectTemplateWidget(forms.Widget):
    """A widget whose template is looked up like a page's (templates/ first, then the apps)."""

    def render(self, name, value, attrs=None, renderer=None):
        # The template escapes every value itself (autoescape); the result is the widget's markup.
        return mark_safe(render_to_string(self.template_name, self.get_context(name, value, attrs)))  # nosec B308 B703


class ColorPickerInput(forms.TextInput):
    """The browser's colour picker (`<input type=color>`), which always submits #rrggbb."""

    input_type = "color"
    template_name = "django/forms/widgets/input.html"

    def __init__(self, attrs=None):
        super().__init__({"class": "color-picker", **(attrs or {})})

    def format_value(self, value):
        # A picker shows black for anything that is not #rrggbb; keep a stored "#ABC" visible as itself.
        value = super().format_value(value)
        return value.lower() if value and HEX_COLOR.match(value) else value


class HexColorField(forms.CharField):
    """A colour as #rrggbb (stored lower-case), chosen with the colour picker."""

    widget = ColorPickerInput

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return value
        value = value.strip()
        if not HEX_COLOR.match(value):
            raise forms.ValidationError(
                _("%(field)s: %(value)r is not a colour written #rrggbb, e.g. #3b82f6."),
                code="invalid_color",
                params={"field": str(self.label or _("Colour")), "value": value},
            )
        return value.lower()
