"""Dashboard pages for dispatchers and managers."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone

from dispatch import selectors
from dispatch.errors import OrderImportError
from dispatch.order_import import orders_import_csv
from dispatch.roles import is_driver, is_office_staff
from routes.geocoding import default_geocoder


def _require_office_staff(request):
    if not is_office_staff(request.user):
        raise PermissionDenied


@login_required
def home(request):
    if is_driver(request.user) and not is_office_staff(request.user):
        return render(request, "dispatch/driver_home.html")
    _require_office_staff(request)
    day = timezone.localdate()
    orders = selectors.orders_visible_to(request.user, day=day)
    return render(request, "dispatch/home.html", {"orders": orders, "day": day})


@login_required
def order_import(request):
    _require_office_staff(request)
    errors = []
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            errors = [{"row": 0, "field": "file", "value": None, "message": "choose a CSV file"}]
        else:
            try:
                result = orders_import_csv(data=upload.read(), user=request.user, geocode=default_geocoder())
            except OrderImportError as exc:
                errors = exc.errors
            else:
                messages.success(request, f"Imported: {len(result.created)} created, {len(result.updated)} updated.")
                return redirect("dashboard:home")
    return render(request, "dispatch/order_import.html", {"errors": errors})
