"""{% inbox_nav_link %}: the Inbox entry of the dashboard's nav, with the unread count of the user's depots."""

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext

from customers.selectors import inbox_unread_count
from dispatch.roles import is_office_staff

register = template.Library()


@register.simple_tag(takes_context=True)
def inbox_nav_link(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not is_office_staff(user):
        return ""
    unread = inbox_unread_count(user)
    current = getattr(request.resolver_match, "url_name", "") == "inbox"
    badge = (
        format_html(' <span class="nav-count" title="{}">{}</span>', gettext("Unread messages"), unread)
        if unread
        else ""
    )
    if current:
        return format_html(
            '<a href="{}" aria-current="page">{}{}</a>', reverse("dashboard:inbox"), gettext("Inbox"), badge
        )
    return format_html('<a href="{}">{}{}</a>', reverse("dashboard:inbox"), gettext("Inbox"), badge)
