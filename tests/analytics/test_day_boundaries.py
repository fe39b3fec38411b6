"""Which day is today and which yesterday, for the figures: the company's local calendar, at any hour.

`make test-clock` runs these at 23:40 and 00:20 local (when the UTC date is another one) and on the
days the clocks change."""

from datetime import datetime, time, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from analytics.models import OrderFact
from analytics.services import order_facts_refresh
from analytics.tasks import daily_summary, order_facts_refresh_recent
from tests.analytics.conftest import at, dispatched_route, make_order, walk

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def yesterday_and_today(depot_a, costed_vehicle, driver_a, manager):
    """One delivery on the local yesterday (at 10:00), two on the local today (just after midnight)."""
    manager.email = "boss@example.com"
    manager.save()
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    just_after_midnight = timezone.make_aware(datetime.combine(today, time(0, 1)))
    days = {yesterday: [at(10, 0, yesterday)], today: [just_after_midnight, just_after_midnight + timedelta(minutes=1)]}
    for day, deliveries in days.items():
        orders = [make_order(depot_a, f"{day:%m%d}-{n}", day=day) for n in range(len(deliveries))]
        dispatched_route(
            depot=depot_a, vehicle=costed_vehicle, driver=driver_a, day=day,
            stops=[(order, moment, moment + timedelta(minutes=5)) for order, moment in zip(orders, deliveries)],
        )  # fmt: skip
        for order, moment in zip(orders, deliveries, strict=True):
            walk(order, ("planned", moment - timedelta(hours=3)), ("dispatched", moment - timedelta(hours=2)),
                 ("arrived", moment - timedelta(minutes=1)), ("delivered", moment))  # fmt: skip
    order_facts_refresh(date_from=yesterday, date_to=today)
    return today, yesterday


def test_it_mails_the_summary_of_the_local_yesterday(yesterday_and_today, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _today, yesterday = yesterday_and_today
    assert daily_summary() == 1
    assert mail.outbox[0].subject == f"Deliveries on {yesterday.day} {yesterday:%B %Y}: 1 delivered"


def test_it_ends_the_default_range_on_the_local_today(yesterday_and_today, manager_client):
    today, yesterday = yesterday_and_today
    body = manager_client.get("/api/analytics/kpis/").json()
    assert (body["from"], body["to"]) == (str(today - timedelta(days=29)), str(today))
    assert body["deliveries"] == 3
    assert manager_client.get(f"/api/analytics/kpis/?from={today}").json()["deliveries"] == 2
    assert manager_client.get(f"/api/analytics/kpis/?from={yesterday}&to={yesterday}").json()["deliveries"] == 1


def test_it_rebuilds_the_recent_days_up_to_the_local_today(yesterday_and_today):
    today, _yesterday = yesterday_and_today
    OrderFact.objects.all().delete()
    order_facts_refresh_recent(days=1)
    assert sorted(OrderFact.objects.values_list("date", flat=True)) == [today - timedelta(days=1), today, today]
