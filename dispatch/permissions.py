"""DRF permission classes for the roles of dispatch.roles."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from rest_framework.permissions import SAFE_METHODS, BasePermission

from dispatch.roles import is_driver, is_manager, is_office_staff, partner_ids


class IsOfficeStaff(BasePermission):
    """Dispatchers and managers (the dashboard's users)."""

    message = "Only dispatchers and managers may do this."

    def has_permission(self, request, view):
        return is_office_staff(request.user)


class IsManagerOrReadOnlyOfficeStaff(BasePermission):
    """Office staff read; only managers write (fleet master data such as depots)."""

    message = "Only managers may change this."

    def has_permission(self, request, view):
        if request.method in SAFE_METHODS:
            return is_office_staff(request.user)
        return is_manager(request.user)


class IsDriver(BasePermission):
    message = "Only drivers may do this."

    def has_permission(self, request, view):
        return is_driver(request.user) and hasattr(request.user, "driver")


class IsManager(BasePermission):
    message = "Only managers may do this."

    def has_permission(self, request, view):
        return is_manager(request.user)


class IsPartner(BasePermission):
    """A courier partner's login, of an active partner."""

    message = "Only courier partners may do this."

    def has_permission(self, request, view):
        return bool(partner_ids(request.user))


def forbidden_page(request):
    return render(request, "dispatch/forbidden.html", status=403)


def office_staff_required(view):
    """Anonymous visitors go to the login page; users without an office role get a 403 page."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_office_staff(request.user):
            return forbidden_page(request)
        return view(request, *args, **kwargs)

    return wrapper
