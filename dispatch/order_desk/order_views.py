"""Dashboard pages of an order and of customer communication: the order's page (status timeline,
customer, window, route, vehicle and driver, planned and live ETA, proof of delivery, communication
log, map) with its actions (reschedule, cancel, move to another route, edit notes and window), and the
dispatchers' inbox of customer messages. Scoped to the user's depots: another depot's order is a 404."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from config.errors import DomainError
from customers import selectors as customer_selectors
from customers import services as customer_services
from customers.errors import CustomersError
from customers.models import CustomerMessage, Feedback, PromisedWindow
from customers.tracking_links import tracking_link_reissue, tracking_url
from dispatch.maps import drawing as maps
from dispatch.order_desk import selectors as order_selectors
from dispatch.order_desk import services as order_services
from dispatch.orders.services import transition_allowed
from dispatch.partners import selectors as partner_selectors
from dispatch.partners import services as partner_services
from dispatch.permissions import office_staff_required


class ReplyForm(forms.Form):
    text = forms.CharField(
        max_length=1000, widget=forms.Textarea(attrs={"rows": 3}), label=gettext_lazy("Reply to the customer")
    )


class _DayField(forms.DateField):
    """A day as YYYY-MM-DD (what a date input sends); a bad one is named in the error."""

    widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

    def to_python(self, value):
        try:
            return super().to_python(value)
        except forms.ValidationError:
            raise forms.ValidationError(
                gettext("“%(value)s” is not a day: give it as YYYY-MM-DD.") % {"value": value}, code="invalid"
            ) from None


class _TimeOfDayField(forms.TimeField):
    """A local time as HH:MM (what a time input sends); a bad one is named in the error."""

    widget = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")

    def to_python(self, value):
        try:
            return super().to_python(value)
        except forms.ValidationError:
            raise forms.ValidationError(
                gettext("“%(value)s” is not a time of day: give it as HH:MM.") % {"value": value}, code="invalid"
            ) from None


class _WindowFields(forms.Form):
    """A delivery window as local times of the company's zone; both ends or neither (any time)."""

    window_start = _TimeOfDayField(required=False, label=gettext_lazy("Window from"))
    window_end = _TimeOfDayField(required=False, label=gettext_lazy("Window to"))
    tell_customer = forms.BooleanField(required=False, initial=True, label=gettext_lazy("Tell the customer"))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("window_start"), cleaned.get("window_end")
        if "window_start" in self.errors or "window_end" in self.errors:
            return cleaned
        if (start is None) != (end is None):
            missing = "window_end" if end is None else "window_start"
            self.add_error(missing, gettext("Give both ends of the window, or leave both empty for any time."))
        elif start is not None and end <= start:
            self.add_error(
                "window_end",
                gettext("The window ends at %(end)s, not after it starts at %(start)s.")
                % {"end": f"{end:%H:%M}", "start": f"{start:%H:%M}"},
            )
        return cleaned


class RescheduleForm(_WindowFields):
    date = _DayField(label=gettext_lazy("New day"))
    field_order = ["date", "window_start", "window_end", "tell_customer"]

    def clean_date(self):
        day = self.cleaned_data["date"]
        today = timezone.localdate()
        if day < today:
            raise forms.ValidationError(
                gettext("%(day)s is over: choose today (%(today)s) or a later day.")
                % {"day": f"{day:%d.%m.%Y}", "today": f"{today:%d.%m.%Y}"}
            )
        return day


class EditForm(_WindowFields):
    notes = forms.CharField(
        required=False,
        max_length=2000,
        label=gettext_lazy("Notes for the driver"),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    field_order = ["window_start", "window_end", "notes", "tell_customer"]


class CancelForm(forms.Form):
    note = forms.CharField(required=False, max_length=500, label=gettext_lazy("Why (kept in the history)"))
    tell_customer = forms.BooleanField(required=False, initial=True, label=gettext_lazy("Tell the customer"))


class MoveForm(forms.Form):
    vehicle = forms.TypedChoiceField(
        coerce=int,
        label=gettext_lazy("Route"),
        error_messages={
            "invalid_choice": gettext_lazy("Vehicle %(value)s has no route of this order's depot on its day.")
        },
    )

    def __init__(self, *args, choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["vehicle"].choices = [(c.vehicle_id, c.label) for c in choices if not c.current]


class HandoffForm(forms.Form):
    partner = forms.ChoiceField(
        label=gettext_lazy("Partner"),
        error_messages={"invalid_choice": gettext_lazy("Partner %(value)s cannot take this order.")},
    )
    reason = forms.CharField(required=False, max_length=500, label=gettext_lazy("Why (the partner sees it)"))

    def __init__(self, *args, offers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].choices = [
            (partner.code, f"{partner.name} · {cost} {settings.CURRENCY}") for partner, cost in offers
        ]


class TakeBackForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500, label=gettext_lazy("Why (the partner is told)"))


def _visible_order(user, order_id: int):
    return order_selectors.order_for_page(user, order_id)


def _local_hhmm(moment):
    return timezone.localtime(moment).time().replace(second=0, microsecond=0) if moment else None


def _render_page(request, order, *, forms_given=None, status=200):
    placement = order_selectors.order_placement(order)
    route_choices = order_selectors.order_route_choices(order, placement)
    handoff = partner_selectors.latest_handoff(order)
    can_hand_off = order.status in partner_services.HANDABLE_STATUSES and not (handoff and handoff.is_open)
    offers = partner_services.partners_eligible(order) if can_hand_off else []
    window = {"window_start": _local_hhmm(order.window_start), "window_end": _local_hhmm(order.window_end)}
    page_forms = {
        "reschedule_form": RescheduleForm(initial={"date": order.date, **window}),
        "edit_form": EditForm(initial={"notes": order.notes, **window}),
        "cancel_form": CancelForm(),
        "move_form": MoveForm(choices=route_choices),
        "reply_form": ReplyForm(),
        "handoff_form": HandoffForm(offers=offers),
        "take_back_form": TakeBackForm(),
        **(forms_given or {}),
    }
    link = customer_selectors.active_tracking_links_by_order([order.pk]).get(order.pk)
    stop = placement.stop
    map_route = order_selectors.order_route_for_map(placement)
    sighting = order_selectors.order_driver_sighting(placement, map_route)
    context = {
        "order": order,
        "status_color": maps.STATUS_COLORS.get(order.status, "#64748b"),
        "window_label": maps.order_window_label(order),
        "time_zone": settings.TIME_ZONE,
        "placement": placement,
        "stop": stop,
        "route": placement.route,
        "late_min": round(stop.late_s / 60) if stop is not None and stop.late_s else 0,
        "can_move": len(page_forms["move_form"].fields["vehicle"].choices) > 0,
        "can_cancel": transition_allowed(order.status, order.Status.CANCELLED),
        "can_reschedule": order.status in order_services.RESCHEDULABLE_STATUSES,
        # Courier partners (issue 20): who has it, and whether it can go to one or come back.
        "handoff": handoff,
        "currency": settings.CURRENCY,
        "can_hand_off": can_hand_off,
        "handoff_offers": offers,
        "can_take_back": bool(handoff and handoff.is_open and order.status in partner_services.TAKE_BACK_STATUSES),
        "history": order_selectors.order_status_timeline(order),
        "proofs": order_selectors.order_proofs(order),
        "notifications": customer_selectors.notifications_for_order(order),
        "conversation": customer_selectors.conversation_for_order(order),
        "feedback": Feedback.objects.filter(order=order).first(),
        "promise": PromisedWindow.objects.filter(order=order).first(),
        "tracking_url": tracking_url(link) if link else "",
        "tracking_link": link,
        "driver_sighting": sighting,
        "driver_sighting_age": maps.position_age_label(sighting.at) if sighting else "",
        # The map in the page's frame: the route serving the order (else the order alone), its depot and
        # zone, and the driver while the route is being driven.
        "map_html": maps.order_map_html(
            order=order,
            route=map_route,
            depots=[order.depot],
            zones=[order.zone] if order.zone else [],
            driver=sighting,
        ),
        **page_forms,
    }
    return render(request, "dispatch/order_detail.html", context, status=status)


@office_staff_required
def order_detail(request, order_id: int):
    order = _visible_order(request.user, order_id)
    if request.GET.get("read") != "0":
        customer_services.customer_messages_mark_read(order=order)
    return _render_page(request, order)


def _refused(request, order, form, form_name: str, exc: DomainError):
    """A service's refusal shown on the form it came from when it names one of the form's fields."""
    for error in exc.errors:
        field, message = error.get("field"), error.get("message", exc.message)
        if field in form.fields:
            form.add_error(field, message)
        else:
            # About the order itself (its status): said at the top, where it shows even when the
            # order's state hides the form.
            messages.error(request, message)
    return _render_page(request, order, forms_given={form_name: form}, status=exc.status_code)


def _changed_message(change, done: str, *, asked_to_tell: bool = False) -> str:
    parts = [done]
    if change.plan is not None:
        plan = change.plan
        if plan.dispatched_at:
            text = gettext("Plan %(plan)s v%(version)s sent to the drivers.")
        else:
            text = gettext("Plan %(plan)s v%(version)s updated.")
        parts.append(text % {"plan": plan.pk, "version": plan.version})
    if change.customer_told:
        parts.append(gettext("The customer is told."))
    elif asked_to_tell:
        parts.append(gettext("The customer could not be told: no e-mail or phone to reach, or they opted out."))
    return " ".join(parts)


@office_staff_required
@require_POST
def order_reschedule(request, order_id: int):
    order = _visible_order(request.user, order_id)
    form = RescheduleForm(request.POST)
    if not form.is_valid():
        return _render_page(request, order, forms_given={"reschedule_form": form}, status=400)
    data = form.cleaned_data
    try:
        change = order_services.order_reschedule(
            order=order, day=data["date"], window_start=data["window_start"], window_end=data["window_end"],
            by=request.user, tell_customer=data["tell_customer"],
        )  # fmt: skip
    except DomainError as exc:
        return _refused(request, order, form, "reschedule_form", exc)
    when = f"{change.order.date:%d.%m.%Y}, {maps.order_window_label(change.order)}"
    messages.success(
        request,
        _changed_message(
            change,
            gettext("Order %(order)s rescheduled to %(when)s.") % {"order": order.reference, "when": when},
            asked_to_tell=data["tell_customer"],
        ),
    )
    return redirect("dashboard:order_detail", order_id=order.pk)


@office_staff_required
@require_POST
def order_edit(request, order_id: int):
    order = _visible_order(request.user, order_id)
    form = EditForm(request.POST)
    if not form.is_valid():
        return _render_page(request, order, forms_given={"edit_form": form}, status=400)
    data = form.cleaned_data
    try:
        change = order_services.order_edit(
            order=order, notes=data["notes"], window_start=data["window_start"], window_end=data["window_end"],
            by=request.user, tell_customer=data["tell_customer"],
        )  # fmt: skip
    except DomainError as exc:
        return _refused(request, order, form, "edit_form", exc)
    messages.success(request, _changed_message(change, gettext("Order %(order)s saved.") % {"order": order.reference}))
    return redirect("dashboard:order_detail", order_id=order.pk)


@office_staff_required
@require_POST
def order_cancel(request, order_id: int):
    order = _visible_order(request.user, order_id)
    form = CancelForm(request.POST)
    if not form.is_valid():
        return _render_page(request, order, forms_given={"cancel_form": form}, status=400)
    try:
        change = order_services.order_cancel(
            order=order, by=request.user, note=form.cleaned_data["note"],
            tell_customer=form.cleaned_data["tell_customer"],
        )  # fmt: skip
    except DomainError as exc:
        return _refused(request, order, form, "cancel_form", exc)
    messages.success(
        request,
        _changed_message(
            change,
            gettext("Order %(order)s cancelled.") % {"order": order.reference},
            asked_to_tell=form.cleaned_data["tell_customer"],
        ),
    )
    return redirect("dashboard:order_detail", order_id=order.pk)


@office_staff_required
@require_POST
def order_move(request, order_id: int):
    order = _visible_order(request.user, order_id)
    placement = order_selectors.order_placement(order)
    form = MoveForm(request.POST, choices=order_selectors.order_route_choices(order, placement))
    if not form.is_valid():
        return _render_page(request, order, forms_given={"move_form": form}, status=400)
    try:
        change = order_services.order_move_to_route(
            order=order, vehicle_id=form.cleaned_data["vehicle"], by=request.user
        )
    except DomainError as exc:
        return _refused(request, order, form, "move_form", exc)
    vehicle = dict(form.fields["vehicle"].choices).get(form.cleaned_data["vehicle"], "").split(" · ")[0]
    done = _changed_message(
        change, gettext("Order %(order)s moved to %(vehicle)s.") % {"order": order.reference, "vehicle": vehicle}
    )
    # Nothing is refused for being late (the dispatcher may know better), but it is said at once.
    stop = order_selectors.order_placement(change.order).stop
    if stop is not None and stop.late_s:
        late = gettext("It arrives %(minutes)s min after its window on that route.") % {
            "minutes": round(stop.late_s / 60)
        }
        messages.warning(request, f"{done} {late}")
    else:
        messages.success(request, done)
    return redirect("dashboard:order_detail", order_id=order.pk)


@office_staff_required
@require_POST
def order_hand_off(request, order_id: int):
    order = _visible_order(request.user, order_id)
    form = HandoffForm(request.POST, offers=partner_services.partners_eligible(order))
    if not form.is_valid():
        return _render_page(request, order, forms_given={"handoff_form": form}, status=400)
    partner = partner_selectors.partner_by_code(form.cleaned_data["partner"])
    try:
        handoff = partner_services.order_hand_off(
            order=order, partner=partner, by=request.user, reason=form.cleaned_data["reason"]
        )
    except DomainError as exc:
        return _refused(request, order, form, "handoff_form", exc)
    messages.success(
        request,
        gettext("Order %(order)s handed to %(partner)s for %(cost)s %(currency)s; it must accept by %(cutoff)s.")
        % {
            "order": order.reference,
            "partner": partner.name,
            "cost": handoff.cost,
            "currency": settings.CURRENCY,
            "cutoff": timezone.localtime(handoff.cutoff_at).strftime("%d.%m. %H:%M"),
        },  # fmt: skip
    )
    return redirect("dashboard:order_detail", order_id=order.pk)


@office_staff_required
@require_POST
def order_take_back(request, order_id: int):
    order = _visible_order(request.user, order_id)
    form = TakeBackForm(request.POST)
    if not form.is_valid():
        return _render_page(request, order, forms_given={"take_back_form": form}, status=400)
    try:
        handoff = partner_services.handoff_take_back(order=order, by=request.user, reason=form.cleaned_data["reason"])
    except DomainError as exc:
        return _refused(request, order, form, "take_back_form", exc)
    messages.success(
        request,
        gettext("Order %(order)s taken back from %(partner)s; it is back in planning.")
        % {"order": order.reference, "partner": handoff.partner.name},
    )
    return redirect("dashboard:order_detail", order_id=order.pk)


@office_staff_required
@require_GET
def order_proof_file(request, order_id: int, proof_id: int, kind: str):
    """A proof of delivery's photo or signature, for the office staff who see the order."""
    order = _visible_order(request.user, order_id)
    if kind not in ("photo", "signature"):
        raise Http404
    proof = get_object_or_404(order_selectors.order_proofs(order), pk=proof_id)
    file = getattr(proof, kind)
    if not file:
        raise Http404
    return FileResponse(file.open("rb"))


@office_staff_required
@require_POST
def order_reply(request, order_id: int):
    order = _visible_order(request.user, order_id)
    form = ReplyForm(request.POST)
    if form.is_valid():
        try:
            customer_services.customer_message_reply(order=order, text=form.cleaned_data["text"], by=request.user)
        except CustomersError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, gettext("Reply sent to the customer."))
    else:
        messages.error(request, gettext("Write a reply of up to 1000 characters."))
    return redirect("dashboard:order_detail", order_id=order.pk)


@office_staff_required
@require_POST
def order_tracking_reissue(request, order_id: int):
    order = _visible_order(request.user, order_id)
    tracking_link_reissue(order=order)
    messages.success(request, gettext("The old tracking link is revoked; the new one is shown below."))
    return redirect("dashboard:order_detail", order_id=order.pk)


@office_staff_required
def inbox(request):
    conversations = list(customer_selectors.inbox_conversations(request.user))
    last_messages = {
        message.order_id: message
        for message in CustomerMessage.objects.filter(order_id__in=[o.pk for o in conversations]).order_by(
            "created_at", "id"
        )
    }
    for order in conversations:
        order.last_message = last_messages.get(order.pk)
    context = {
        "conversations": conversations,
        "failed_notifications": customer_selectors.failed_notifications_count(request.user),
    }
    return render(request, "dispatch/inbox.html", context)
