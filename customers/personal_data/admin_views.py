"""The admin's "Personal data" page (/admin/personal-data/): a manager exports or erases everything
held about one customer, found by e-mail or phone (customers.personal_data.services does the work)."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from customers.personal_data.services import personal_data_erase, personal_data_export
from dispatch.roles import is_manager


class SubjectForm(forms.Form):
    email = forms.EmailField(required=False, label="E-mail address")
    phone = forms.CharField(required=False, max_length=32, label="Phone number")
    confirm = forms.BooleanField(required=False, label="Yes, erase: this cannot be undone")

    def clean(self):
        data = super().clean()
        if not data.get("email") and not data.get("phone"):
            raise ValidationError("Give the customer's e-mail address or phone number.")
        return data


@never_cache
def personal_data_view(request):
    if not is_manager(request.user):
        raise PermissionDenied
    form = SubjectForm(
        request.POST or None, initial={"email": request.GET.get("email", ""), "phone": request.GET.get("phone", "")}
    )
    if request.method == "POST" and form.is_valid():
        subject = {"email": form.cleaned_data["email"], "phone": form.cleaned_data["phone"]}
        if "export" in request.POST:
            export = personal_data_export(by=request.user, **subject)
            response = HttpResponse(json.dumps(export, indent=2, ensure_ascii=False), content_type="application/json")
            response["Content-Disposition"] = (
                f'attachment; filename="personal-data-{timezone.now():%Y%m%d-%H%M%S}.json"'
            )
            return response
        if "erase" in request.POST:
            if not form.cleaned_data["confirm"]:
                form.add_error("confirm", "Tick the box to erase: this cannot be undone.")
            else:
                result = personal_data_erase(by=request.user, **subject)
                text = f"Erased {len(result.orders_erased)} order(s) and {len(result.customers_erased)} customer record(s)."
                if result.orders_kept_open:
                    text += (
                        f" Kept until completed (retention erases them later): {', '.join(result.orders_kept_open)}."
                    )
                messages.success(request, text)
                return redirect("admin_personal_data")
    context = {**admin.site.each_context(request), "title": "Personal data of one customer", "form": form}
    return TemplateResponse(request, "admin/personal_data.html", context)
