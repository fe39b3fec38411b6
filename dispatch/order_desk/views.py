"""Dashboard pages for dispatchers and managers (drivers get a placeholder until their app exists)."""

from collections import Counter
from datetime import date, timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from dispatch.errors import OrderImportError
from dispatch.fleet import selectors as fleet_selectors
from dispatch.maps import drawing as maps
from dispatch.models import Order
from dispatch.orders import selectors
from dispatch.orders.import_files import check_import_size, declared_length
from dispatch.orders.importing import orders_import_csv
from dispatch.permissions import forbidden_page, office_staff_required
from dispatch.roles import is_driver, is_office_staff
from routes.geocoding import default_geocoder


class OrderFilterForm(forms.Form):
    date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    status = forms.ChoiceField(required=False, choices=[("", gettext_lazy("All statuses")), *Order.Status.choices])
    depot = forms.ChoiceField(required=False)
    zone = forms.ChoiceField(required=False)
    q = forms.CharField(
        required=False,
        max_length=100,
        label=gettext_lazy("Search"),
        widget=forms.TextInput(attrs={"type": "search", "placeholder": gettext_lazy("Reference, name or address")}),
    )

    def __init__(self, *args, depots, zones, **kwargs):
        super().__init__(*args, **kwargs)
        # Only depots and zones the user may see are offered, and only those are accepted.
        self.fields["depot"].choices = [
            ("", gettext("All depots")),
            *((d.code, f"{d.code} – {d.name}") for d in depots),
        ]
        self.fields["zone"].choices = [("", gettext("All zones")), *((z.code, z.name) for z in zones)]

    def filters(self) -> dict:
        """The selector's keyword arguments; a field with a bad value is left out (and shown as an error)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "day": data.get("date") or timezone.localdate(),
            "status": data.get("status") or None,
            "depot": data.get("depot") or None,
            "zone": data.get("zone") or None,
            "search": (data.get("q") or "").strip() or None,
        }


def _query(params, **changes) -> str:
    query = params.copy()
    for key, value in changes.items():
        if value in (None, ""):
            query.pop(key, None)
        else:
            query[key] = value
    return "?" + query.urlencode() if query else "?"


@login_required
def home(request):
    if not is_office_staff(request.user):
        if is_driver(request.user):
            return redirect("driver:app")
        return forbidden_page(request)
    return _today_page(request)


def _today_page(request):
    user = request.user
    depots = list(fleet_selectors.depots_visible_to(user))
    zones = list(fleet_selectors.zones_visible_to(user))
    form = OrderFilterForm(request.GET or None, depots=depots, zones=zones, initial={"date": timezone.localdate()})
    filters = form.filters()
    day: date = filters["day"]

    orders = list(selectors.orders_visible_to(user, **filters))
    counts = selectors.order_status_counts(user, **{**filters, "status": None})
    # Each status's name translated once: get_status_display() translates every choice on each call.
    status_labels = {status: str(label) for status, label in Order.Status.choices}
    for order in orders:
        order.window_label = maps.order_window_label(order)
        order.status_color = maps.STATUS_COLORS.get(order.status)
        order.status_label = status_labels.get(order.status, order.status)

    map_depots = [d for d in depots if not filters["depot"] or d.code == filters["depot"]]
    map_zones = [z for z in zones if not filters["depot"] or (z.depot and z.depot.code == filters["depot"])]
    map_html = maps.orders_map_html(orders=orders, depots=map_depots, zones=map_zones)

    params = request.GET.copy()
    status_chips = [
        {
            "value": status,
            "label": label,
            "count": counts.get(status, 0),
            "color": maps.STATUS_COLORS[status],
            "active": filters["status"] == status,
            "query": _query(params, status=status),
        }
        for status, label in Order.Status.choices
        if counts.get(status) or filters["status"] == status
    ]
    context = {
        "form": form,
        "day": day,
        "is_today": day == timezone.localdate(),
        "orders": orders,
        "total_count": sum(counts.values()),
        "status_chips": status_chips,
        "all_statuses_query": _query(params, status=None),
        "previous_day_query": _query(params, date=(day - timedelta(days=1)).isoformat()),
        "next_day_query": _query(params, date=(day + timedelta(days=1)).isoformat()),
        "today_query": _query(params, date=None),
        "total_weight_kg": sum(o.weight_kg for o in orders),
        "show_depot": len(depots) > 1,
        "map_html": map_html,
        "filtered": any(filters[k] for k in ("status", "depot", "zone", "search")),
    }
    return render(request, "dispatch/home.html", context)


class OrderImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"), widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"})
    )


@office_staff_required
def order_import(request):
    errors, filename, status = [], "", 200
    form = OrderImportForm()
    if request.method == "POST":
        try:
            # Checked before the body is read, so an oversized upload is never spooled to disk.
            check_import_size(declared_length(request), whole_request=True)
            form = OrderImportForm(request.POST, request.FILES)
            if not form.is_valid():
                raise OrderImportError(
                    [{"row": 0, "field": "file", "value": None, "message": gettext("choose a CSV file to upload")}]
                )
            upload = form.cleaned_data["file"]
            filename = upload.name
            check_import_size(upload.size)
            result = orders_import_csv(data=upload.read(), user=request.user, geocode=default_geocoder())
        except OrderImportError as exc:
            errors, status = exc.errors, exc.status_code
        else:
            return _after_import(request, upload.name, result)
    context = {
        "form": form,
        "errors": errors,
        "filename": filename,
        "default_service_minutes": settings.DEFAULT_SERVICE_MINUTES,
    }
    return render(request, "dispatch/order_import.html", context, status=status)


def _after_import(request, filename, result):
    orders = result.created + result.updated
    messages.success(
        request,
        gettext("%(file)s: %(count)s order(s) imported — %(new)s new, %(updated)s updated.")
        % {"file": filename, "count": len(orders), "new": len(result.created), "updated": len(result.updated)},
    )
    for warning in result.warnings:
        where = (
            gettext("Column %(field)r") % {"field": warning["field"]}
            if warning["row"] == 1
            else gettext("Row %(row)s, %(field)s") % {"row": warning["row"], "field": warning["field"]}
        )
        messages.warning(request, f"{where}: {warning['message']}")
    # Show the day most of the file is about (usually the only one), where the new orders are.
    busiest_day = Counter(o.date for o in orders).most_common(1)[0][0]
    return redirect(reverse("dashboard:home") + f"?date={busiest_day.isoformat()}")
