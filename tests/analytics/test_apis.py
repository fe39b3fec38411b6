"""The analytics API, export, page and daily e-mail: personas and shapes (API.md: Analytics)."""

import csv
import io

import pytest
from django.core import mail
from django.test import Client

from analytics.services import daily_summary_send
from tests.analytics.conftest import DAY
from tests.conftest import PASSWORD
from tests.offline_pages import assert_no_cdn

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

KPIS = f"/api/analytics/kpis/?from={DAY}&to={DAY}"
EXPORT = f"/api/analytics/export.csv?from={DAY}&to={DAY}"
API_FIELDS = (
    "deliveries", "on_time_rate", "first_attempt_success_rate", "avg_delay_s", "p90_delay_s", "cost_per_delivery",
    "distance_per_delivery_m", "stops_per_hour", "csat_avg", "feedback_count",
)  # fmt: skip


def test_it_answers_the_contract_fields_to_a_manager(day_of_depot_a, manager_client):
    response = manager_client.get(KPIS)
    assert response.status_code == 200
    body = response.json()
    assert set(API_FIELDS) <= set(body)
    assert body["deliveries"] == 3
    assert body["p90_delay_s"] == 10200
    assert body["cost_per_delivery"] == 65.0


def test_it_shows_a_dispatcher_only_their_depots(day_of_depot_a, dispatcher_a_client, dispatcher_b_client):
    assert dispatcher_a_client.get(KPIS).json()["deliveries"] == 3
    assert dispatcher_b_client.get(KPIS).json()["deliveries"] == 0
    response = dispatcher_b_client.get(KPIS + "&depot=A")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "depot"


def test_it_refuses_drivers_and_anonymous_visitors(day_of_depot_a, driver_client, anonymous_client):
    assert driver_client.get(KPIS).status_code == 403
    assert driver_client.get(EXPORT).status_code == 403
    assert anonymous_client.get(KPIS).status_code in (401, 403)
    assert anonymous_client.get(EXPORT).status_code in (401, 403)


def test_it_rejects_a_range_that_ends_before_it_starts(manager_client):
    response = manager_client.get("/api/analytics/kpis/?from=2026-03-10&to=2026-03-01")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "from"
    assert manager_client.get("/api/analytics/kpis/?from=yesterday").status_code == 400


@pytest.mark.parametrize("zone", ["²", "99999999999999999999", "no-such-zone"])
def test_it_names_an_unknown_zone_instead_of_failing(manager_client, zone):
    response = manager_client.get("/api/analytics/kpis/", {"zone": zone})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "zone"


def test_it_exports_one_row_per_order_with_planned_and_actual_times(day_of_depot_a, manager_client):
    response = manager_client.get(EXPORT)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["reference"] for r in rows] == ["O1", "O2", "O3", "O4"]
    o2 = rows[1]
    assert o2["planned_arrival"] == "2026-03-10T10:30:00+01:00"
    assert o2["actual_arrival"] == "2026-03-10T11:20:00+01:00"
    assert o2["delay_s"] == "1200"
    assert o2["on_time"] == "no"
    assert o2["driver"] == "Dana Driver"
    assert rows[3]["failed_attempts"] == "1" and rows[3]["last_failure_reason"] == "no_access"


def test_it_exports_nothing_of_other_depots_to_a_dispatcher(day_of_depot_a, dispatcher_b_client):
    body = b"".join(dispatcher_b_client.get(EXPORT).streaming_content).decode()
    assert body.strip().splitlines() == [body.strip().splitlines()[0]]


def _browser(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_it_shows_the_page_to_office_staff_and_refuses_drivers(day_of_depot_a, manager, dispatcher_b, driver_a):
    page = _browser(manager).get(f"/analytics/?from={DAY}&to={DAY}")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-kpi="on_time_rate"' in html and "33.3 %" in html
    assert "<svg" in html and "Dana Driver" in html
    assert "js/analytics.js" in html  # the lateness layer inside the map document
    assert_no_cdn(html)
    other = _browser(dispatcher_b).get(f"/analytics/?from={DAY}&to={DAY}").content.decode()
    assert "Dana Driver" not in other
    assert _browser(driver_a.user).get("/analytics/").status_code == 403
    assert Client().get("/analytics/").status_code == 302


def test_it_shows_the_page_with_bad_filters_ignored(manager):
    page = _browser(manager).get("/analytics/?from=2026-13-40")
    assert page.status_code == 200
    assert "not valid" in page.content.decode()


def test_it_mails_the_daily_summary_to_managers(day_of_depot_a, manager, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    manager.email = "boss@example.com"
    manager.save()
    assert daily_summary_send(day=DAY) == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["boss@example.com"]
    assert "3 delivered" in message.subject
    assert "On time: 33 %" in message.body
    assert "Failed, no access: 1" in message.body  # the reason as the app names it


def test_it_streams_the_export_from_an_async_generator_under_asgi(day_of_depot_a, manager):
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    async def download():
        client = AsyncClient()
        await client.aforce_login(manager)
        response = await client.get(EXPORT)
        assert response.status_code == 200
        assert response.is_async  # pages are read in a worker thread, the event loop never blocks
        return b"".join([chunk async for chunk in response.streaming_content]).decode()

    rows = list(csv.DictReader(io.StringIO(async_to_sync(download)())))
    assert [r["reference"] for r in rows] == ["O1", "O2", "O3", "O4"]
