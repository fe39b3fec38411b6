"""The Alerts page (/alerts/): every alert of the user's depots, filtered, grouped, resolved in bulk.

Times are the company's (TIME_ZONE), rendered on the server; the page says the zone once. Bulk
resolve is a plain form POST (it works without JavaScript; static/js/alerts.js adds select-all) to
the same service as the API's POST /api/alerts/resolve/.
"""

from django import forms
from django.contrib import messages
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from dispatch.alerts import alert_kind_label
from dispatch.errors import DispatchError
from dispatch.fleet import selectors as fleet_selectors
from dispatch.live import alert_selectors, alerts
from dispatch.models import Alert
from dispatch.permissions import office_staff_required

STATE_CHOICES = [
    (alert_selectors.OPEN, gettext_lazy("Open")),
    (alert_selectors.RESOLVED, gettext_lazy("Resolved")),
    (alert_selectors.ALL, gettext_lazy("Open and resolved")),
]
GROUP_CHOICES = [
    (alert_selectors.GROUP_BY_KIND, gettext_lazy("Kind")),
    (alert_selectors.GROUP_BY_ROUTE, gettext_lazy("Route")),
]
DATETIME_INPUT = {"type": "datetime-local"}


class AlertFilterForm(forms.Form):
    state = forms.ChoiceField(required=False, choices=STATE_CHOICES, label=gettext_lazy("Status"))
    kind = forms.ChoiceField(required=False, label=gettext_lazy("Kind"))
    depot = forms.ChoiceField(required=False, label=gettext_lazy("Depot"))
    route = forms.ChoiceField(required=False, label=gettext_lazy("Route"))
    since = forms.DateTimeField(required=False, label=gettext_lazy("From"), widget=forms.DateTimeInput(DATETIME_INPUT))
    until = forms.DateTimeField(required=False, label=gettext_lazy("Until"), widget=forms.DateTimeInput(DATETIME_INPUT))
    group = forms.ChoiceField(required=False, choices=GROUP_CHOICES, label=gettext_lazy("Group by"))

    def __init__(self, *args, depots, drivers, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the user's depots and drivers are offered, and only those are accepted.
        self.depots = {depot.code: depot for depot in depots}
        self.fields["kind"].choices = [("", gettext("All kinds")), *Alert.Kind.choices]
        self.fields["depot"].choices = [
            ("", gettext("All depots")),
            *((d.code, f"{d.code} – {d.name}") for d in depots),
        ]
        routes = [(str(d.pk), f"{d.name} · {d.vehicle.name}" if d.vehicle else d.name) for d in drivers]
        self.fields["route"].choices = [
            ("", gettext("All routes")),
            *routes,
            (alert_selectors.NO_ROUTE, gettext("Not about a driver")),
        ]

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until <= since:
            self.add_error("until", f"must be after From ({timezone.localtime(since):%d.%m.%Y %H:%M})")
        return data

    def filters(self) -> alert_selectors.AlertFilters:
        """The selector's filters; a field with a bad value is left out (and shown as an error)."""
        self.is_valid()
        data = {name: value for name, value in getattr(self, "cleaned_data", {}).items() if name not in self.errors}
        depot = self.depots.get(data.get("depot") or "")
        return alert_selectors.AlertFilters(
            kind=data.get("kind") or "",
            depot_id=depot.pk if depot else None,
            route=data.get("route") or "",
            state=data.get("state") or alert_selectors.OPEN,
            since=data.get("since"),
            until=data.get("until"),
        )


@office_staff_required
def alert_list(request):
    user = request.user
    depots = list(fleet_selectors.depots_visible_to(user))
    drivers = list(fleet_selectors.drivers_visible_to(user).order_by("name"))
    form = AlertFilterForm(request.GET or None, depots=depots, drivers=drivers)
    filters = form.filters()
    group_by = request.GET.get("group") if request.GET.get("group") in dict(GROUP_CHOICES) else "kind"
    queryset = alert_selectors.alerts_filtered(user, filters)
    items = list(queryset[: alert_selectors.MAX_PAGE_ALERTS])
    total = len(items) if len(items) < alert_selectors.MAX_PAGE_ALERTS else queryset.count()
    groups = alert_selectors.alerts_grouped(items, by=group_by)
    for alert in items:
        alert.kind_label = alert_kind_label(alert.kind)
        alert.route_label = alert_selectors.route_label(alert)
    now = timezone.localtime()
    context = {
        "form": form,
        "filters": filters,
        "groups": groups,
        "group_by": group_by,
        "shown": len(items),
        "total": total,
        "open_shown": sum(1 for alert in items if alert.resolved_at is None),
        "show_depot": len(depots) > 1,
        "today": now.date(),
        "time_zone": timezone.get_current_timezone_name(),
        "time_zone_abbreviation": now.tzname(),
        "query": request.GET.urlencode(),
        "filtered": any(request.GET.get(name) for name in ("kind", "depot", "route", "since", "until"))
        or filters.state != alert_selectors.OPEN,
    }
    return render(request, "dispatch/alerts.html", context)


@require_POST
@office_staff_required
def alerts_resolve(request):
    """Resolve the ticked alerts (those of other depots are left alone, as if they did not exist)."""
    ids = [value for value in request.POST.getlist("alert") if value.isascii() and value.isdigit() and len(value) < 19]
    # Back to the same filters; only the query string is kept, never a URL from the form.
    back = reverse("dashboard:alerts")
    query = QueryDict(request.POST.get("query", "")).urlencode()
    if query:
        back += "?" + query
    if not ids:
        messages.warning(request, gettext("Tick the alerts to resolve first."))
        return redirect(back)
    try:
        result = alerts.alerts_resolve_many(user=request.user, alert_ids=ids)
    except DispatchError as error:
        messages.error(request, error.message)
        return redirect(back)
    resolved, already = len(result["resolved"]), len(result["already_resolved"])
    text = ngettext("%(count)s alert resolved.", "%(count)s alerts resolved.", resolved) % {"count": resolved}
    if already:
        text += " " + gettext("%(count)s had been resolved already.") % {"count": already}
    if result["not_found"]:
        text += " " + gettext("%(count)s could not be found (another depot's, or deleted).") % {
            "count": len(result["not_found"])
        }
    messages.success(request, text)
    return redirect(back)
