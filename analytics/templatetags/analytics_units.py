"""{{ value|human:"duration" }}: a figure in the units people read (analytics.units), in pages and e-mails."""

from django import template

from analytics.units import human as human_figure

register = template.Library()


@register.filter
def human(value, kind: str) -> str:
    return human_figure(value, kind)
