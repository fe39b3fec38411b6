"""Dashboard pages of customer communication: an order's page with its whole communication log,
and the dispatchers' inbox of customer messages (scoped to the user's depots; others' orders 404)."""

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from customers import selectors as customer_selectors
from customers import services as customer_services
from customers.errors import CustomersError
from customers.models import CustomerMessage, Feedback, PromisedWindow
from customers.tracking_links import tracking_link_reissue, tracking_url
from dispatch import selectors
from dispatch.views import office_staff_required


class ReplyForm(forms.Form):
    text = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 3}), label="Reply to the customer")


def _visible_order(user, order_id: int):
    return get_object_or_404(selectors.orders_visible_to(user).select_related("customer", "depot", "zone"), id=order_id)


@office_staff_required
def order_detail(request, order_id: int):
    order = _visible_order(request.user, order_id)
    link = customer_selectors.active_tracking_links_by_order([order.pk]).get(order.pk)
    context = {
        "order": order,
        "history": order.status_history.select_related("changed_by"),
        "notifications": customer_selectors.notifications_for_order(order),
        "conversation": customer_selectors.conversation_for_order(order),
        "feedback": Feedback.objects.filter(order=order).first(),
        "promise": PromisedWindow.objects.filter(order=order).first(),
        "tracking_url": tracking_url(link) if link else "",
        "tracking_link": link,
        "reply_form": ReplyForm(),
    }
    if request.GET.get("read") != "0":
        customer_services.customer_messages_mark_read(order=order)
    return render(request, "dispatch/order_detail.html", context)


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
            messages.success(request, "Reply sent to the customer.")
    else:
        messages.error(request, "Write a reply of up to 1000 characters.")
    return redirect("dashboard:order_detail", order_id=order.pk)


@office_staff_required
@require_POST
def order_tracking_reissue(request, order_id: int):
    order = _visible_order(request.user, order_id)
    tracking_link_reissue(order=order)
    messages.success(request, "The old tracking link is revoked; the new one is shown below.")
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
