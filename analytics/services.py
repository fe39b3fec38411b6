"""Writes of the analytics app: rebuilding the per-order facts, sending the daily summary."""

import logging
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext

from analytics import fact_versions, facts
from analytics.errors import AnalyticsError
from analytics.filters import KpiFilters
from analytics.models import ArrivalEta
from analytics.selectors import kpis_compare
from dispatch.alerts import FAIL_REASON_LABELS
from dispatch.language import user_language
from dispatch.models import Depot, Order
from dispatch.roles import MANAGER
from routes.models import Plan, Stop

logger = logging.getLogger(__name__)


@transaction.atomic
def order_facts_refresh(*, date_from: date, date_to: date, depot_id: int | None = None) -> int:
    """Rebuild the facts of every order dated date_from..date_to (of one depot, or all): one DELETE, one INSERT."""
    if date_to < date_from:
        raise AnalyticsError(gettext("The range ends before it starts"), field="to", value=date_to.isoformat())
    # Two refreshes of the same depot's days at once would both insert the same orders; locking the
    # depot rows makes the second wait for the first and then rebuild from the committed state.
    depots = Depot.objects.select_for_update().order_by("id")
    list(depots.filter(id=depot_id) if depot_id else depots)
    params = {"date_from": date_from, "date_to": date_to, "depot_id": depot_id}
    with connection.cursor() as cursor:
        # The delete also removes facts filed under other days (orders moved into the range):
        # those days change too, so cached figures of them must go as well.
        cursor.execute(facts.facts_moved_days_sql(by_depot=depot_id is not None), params)
        changed_days = {_as_date(row[0]) for row in cursor.fetchall()}
        changed_days.update(date_from + timedelta(days=n) for n in range((date_to - date_from).days + 1))
        cursor.execute(facts.facts_delete_sql(by_depot=depot_id is not None), params)
        cursor.execute(facts.facts_insert_sql(by_depot=depot_id is not None), params)
        inserted = cursor.rowcount
    # Before the commit for callers whose transaction never commits, after it for readers that
    # read the old rows in between (analytics/fact_versions.py).
    fact_versions.days_changed(changed_days)
    transaction.on_commit(lambda: fact_versions.days_changed(changed_days))
    return inserted


def _as_date(value) -> date:
    # SQLite answers a raw date column as text.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def order_facts_refresh_for_order(*, order_id: int) -> int:
    order = Order.objects.filter(pk=order_id).values("date", "depot_id").first()
    if order is None:
        return 0
    return order_facts_refresh(date_from=order["date"], date_to=order["date"], depot_id=order["depot_id"])


def order_facts_refresh_all(*, chunk_days: int = 31) -> int:
    """Every order's facts, a month of days per statement (seed and benchmark loads)."""
    bounds = Order.objects.order_by().values_list("date", flat=True)
    first, last = bounds.order_by("date").first(), bounds.order_by("-date").first()
    if first is None:
        return 0
    total, start = 0, first
    while start <= last:
        end = min(start + timedelta(days=chunk_days - 1), last)
        total += order_facts_refresh(date_from=start, date_to=end)
        start = end + timedelta(days=1)
    return total


def daily_summary_send(*, day: date) -> int:
    """E-mail the day's KPIs to every active manager with an address, each in their language (their
    setting, else the company's); returns how many were sent to."""
    managers = (
        get_user_model()
        .objects.filter(is_active=True, groups__name=MANAGER)
        .exclude(email="")
        .select_related("preference")
        .distinct()
    )
    by_language: dict[str, set[str]] = {}
    for manager in managers:
        by_language.setdefault(user_language(manager) or settings.LANGUAGE_CODE, set()).add(manager.email)
    if not by_language:
        return 0
    # The facts of the day may lag a status change by a task; rebuild them first (outside any transaction).
    order_facts_refresh(date_from=day, date_to=day)
    comparison = kpis_compare(KpiFilters(date_from=day, date_to=day))
    for language, emails in sorted(by_language.items()):
        with translation.override(language):
            current = comparison["current"]
            context = {
                "day": day,
                "comparison": comparison,
                "generated_at": timezone.localtime(),
                "failure_reasons": [
                    (gettext(FAIL_REASON_LABELS.get(reason, reason)), count)
                    for reason, count in (current.get("failure_reasons") or {}).items()
                ],
            }
            send_mail(
                subject=gettext("Deliveries on %(day)s: %(count)s delivered")
                % {"day": date_format(day, "DATE_FORMAT"), "count": current["deliveries"]},
                message=render_to_string("analytics/daily_summary.txt", context),
                from_email=None,
                recipient_list=sorted(emails),
                html_message=render_to_string("analytics/daily_summary.html", context),
            )
    recipients = sum(len(emails) for emails in by_language.values())
    logger.info("daily summary for %s sent to %d managers", day, recipients)
    return recipients


def arrival_eta_record(*, order_id: int, at) -> None:
    """Keep the ETAs the order had when its driver arrived (analytics.models.ArrivalEta): the
    dispatched plan's and the last live one, before the next live recompute replaces it with the
    arrival itself. A later attempt's arrival replaces an earlier one's."""
    stop = (
        Stop.objects.filter(order_id=order_id, route__plan__status=Plan.Status.DONE)
        .exclude(route__plan__dispatched_at=None)
        .order_by("-route__plan__dispatched_at", "-id")
        .values("eta", "live_eta", "live_eta_updated_at", "order__date")
        .first()
    )
    if stop is None:
        return
    # A live ETA computed after the arrival is the arrival itself (dispatch.live.eta): not a prediction.
    live = stop["live_eta"] if stop["live_eta_updated_at"] is not None and stop["live_eta_updated_at"] <= at else None
    ArrivalEta.objects.update_or_create(
        order_id=order_id,
        defaults={"date": stop["order__date"], "arrived_at": at, "planned_eta": stop["eta"], "live_eta": live,
                  "live_eta_at": stop["live_eta_updated_at"] if live else None},
    )  # fmt: skip
