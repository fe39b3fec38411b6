"""A traffic profile's 24 hourly factors as a table of hours with a chart (the admin's editor).

The form posts one field per hour (`hourly_factors_0` … `hourly_factors_23`); the stored value
stays TrafficProfile.hourly_factors, a list of 24 numbers. A JSON list posted as the one field
`hourly_factors` is read too (scripts and older forms post that). The chart is drawn in the page
by static/js/admin_traffic_profile.js from the inputs, and follows every keystroke.
"""

import json
import math

from django import forms
from django.utils.translation import gettext_lazy as _

from config.admin_widgets import ProjectTemplateWidget

HOURS = range(24)
# The range TrafficProfile.clean accepts: below 0.05 a road is as good as closed (closures do that),
# above 1.5 a van would drive half as fast again as the road's free-flow speed.
MIN_FACTOR = 0.05
MAX_FACTOR = 1.5


def _hour(hour: int) -> str:
    return f"{hour:02d}"


def _shown(value) -> str:
    """A factor as the table shows it: 0.6, 0.85, 1 (no float noise such as 0.6000000001)."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, (int, float)):
        return f"{value:.4f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)
    return str(value)


class HourlyFactorsWidget(ProjectTemplateWidget):
    template_name = "admin/widgets/hourly_factors.html"

    class Media:
        js = ["js/admin_traffic_profile.js"]
        css = {"all": ["css/admin_widgets.css"]}

    def value_from_datadict(self, data, files, name):
        if any(f"{name}_{hour}" in data for hour in HOURS):
            return [data.get(f"{name}_{hour}", "") for hour in HOURS]
        return data.get(name)

    def value_omitted_from_data(self, data, files, name):
        return name not in data and not any(f"{name}_{hour}" in data for hour in HOURS)

    def _hour_values(self, value) -> list[str]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return [""] * 24
        if not isinstance(value, (list, tuple)):
            return [""] * 24
        values = [_shown(v) for v in list(value)[:24]]
        return values + [""] * (24 - len(values))

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        field_id = context["widget"]["attrs"].get("id") or f"id_{name}"
        values = self._hour_values(value)
        hours = [
            {
                "hour": hour,
                "label": _hour(hour),
                "until": _hour((hour + 1) % 24),
                "name": f"{name}_{hour}",
                "id": f"{field_id}_{hour}",
                "value": values[hour],
            }
            for hour in HOURS
        ]
        context.update(
            field_id=field_id,
            # Two rows of twelve hours read at admin width and on a phone (scrolling sideways otherwise).
            halves=[hours[:12], hours[12:]],
            min_factor=MIN_FACTOR,
            max_factor=MAX_FACTOR,
        )
        return context


class HourlyFactorsField(forms.Field):
    """24 speed factors, one per local hour; each error names the hour and the value given."""

    widget = HourlyFactorsWidget
    default_error_messages = {
        "count": _("Hourly factors: give exactly 24 numbers, one per hour 00–23; got %(count)s: %(value)s."),
        "not_a_list": _("Hourly factors: %(value)s is not a list of 24 numbers, one per hour 00–23."),
        "empty_hour": _(
            "Hour %(hour)s–%(until)s h: empty; give a factor from %(min)s to %(max)s (1 = free-flow speed)."
        ),
        "not_a_number": _(
            "Hour %(hour)s–%(until)s h: %(value)r is not a number; give a factor from %(min)s to %(max)s."
        ),
        "out_of_range": _(
            "Hour %(hour)s–%(until)s h: %(value)s is outside %(min)s to %(max)s "
            "(1 = free-flow speed, 0.6 = 60 %% of it)."
        ),
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise forms.ValidationError(
                    self.error_messages["not_a_list"], code="not_a_list", params={"value": value[:120]}
                ) from None
        if not isinstance(value, (list, tuple)):
            raise forms.ValidationError(
                self.error_messages["not_a_list"], code="not_a_list", params={"value": str(value)[:120]}
            )
        if len(value) != 24:
            raise forms.ValidationError(
                self.error_messages["count"], code="count", params={"count": len(value), "value": str(value)[:120]}
            )
        factors, errors = [], []
        for hour, raw in enumerate(value):
            params = {"hour": _hour(hour), "until": _hour((hour + 1) % 24), "min": MIN_FACTOR, "max": MAX_FACTOR}
            factor = self._factor(raw, params, errors)
            if factor is not None and not MIN_FACTOR <= factor <= MAX_FACTOR:
                errors.append(
                    forms.ValidationError(
                        self.error_messages["out_of_range"],
                        code="out_of_range",
                        params={**params, "value": _shown(raw)},
                    )
                )
            factors.append(factor)
        if errors:
            raise forms.ValidationError(errors)
        return factors

    def _factor(self, raw, params: dict, errors: list) -> float | None:
        if isinstance(raw, bool):
            errors.append(
                forms.ValidationError(self.error_messages["not_a_number"], "not_a_number", {**params, "value": raw})
            )
            return None
        if isinstance(raw, (int, float)):
            number = float(raw)
        else:
            text = str(raw).strip()
            if not text:
                errors.append(forms.ValidationError(self.error_messages["empty_hour"], "empty_hour", params))
                return None
            try:
                # A decimal comma is how the company's managers may type it ("0,6").
                number = float(text.replace(",", "."))
            except ValueError:
                errors.append(
                    forms.ValidationError(
                        self.error_messages["not_a_number"], "not_a_number", {**params, "value": text}
                    )
                )
                return None
        if not math.isfinite(number):
            errors.append(
                forms.ValidationError(self.error_messages["not_a_number"], "not_a_number", {**params, "value": raw})
            )
            return None
        return number

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != initial
        except forms.ValidationError:
            return True
