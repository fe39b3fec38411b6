"""Celery tasks of the analytics app: keep the facts fresh, send the daily summary."""

from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

from analytics import services


# latest_only per (day, depot): every status change asks for its day's rebuild, and one rebuild reads
# everything committed before it runs. Without it a depot's 600 taps a day queued 600 rebuilds of its
# whole day, one behind the other, and the queue never caught up with the drivers.
@shared_task(name="analytics.tasks.order_facts_refresh_day", acks_late=True, latest_only=True, latest_key_args=2)
def order_facts_refresh_day(day: str, depot_id: int | None = None) -> int:
    """Rebuild one day's facts (idempotent: a delete and an insert of the same rows)."""
    day_value = date.fromisoformat(day)
    return services.order_facts_refresh(date_from=day_value, date_to=day_value, depot_id=depot_id)


@shared_task(name="analytics.tasks.order_facts_refresh_recent", acks_late=True)
def order_facts_refresh_recent(days: int = 3) -> int:
    """Nightly safety net: rebuild the last few days (late status changes, feedback-free corrections)."""
    today = timezone.localdate()
    return services.order_facts_refresh(date_from=today - timedelta(days=days), date_to=today)


@shared_task(name="analytics.tasks.daily_summary", acks_late=True)
def daily_summary(day: str | None = None) -> int:
    """E-mail yesterday's KPIs (or `day`'s) to the managers. A rerun after a crash sends it again."""
    value = date.fromisoformat(day) if day else timezone.localdate() - timedelta(days=1)
    return services.daily_summary_send(day=value)
