"""GET /metrics: who may scrape it, and figures that move when work happens."""

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from config import metrics
from dispatch.models import Order, Vehicle
from dispatch.orders.services import order_change_status
from routes.models import Stop
from tests.routes.test_plans import request_plan

TOKEN = "scrape-token-for-tests-0123456789"


@pytest.fixture(autouse=True)
def _metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape(client) -> dict:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_it_refuses_anonymous_a_wrong_token_and_non_staff(anonymous_client, dispatcher_a_client):
    assert anonymous_client.get("/metrics").status_code == 401
    assert anonymous_client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert dispatcher_a_client.get("/metrics").status_code == 401


def test_it_answers_the_token_and_staff_sessions(client, manager, anonymous_client):
    assert anonymous_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    client.force_login(manager)
    response = client.get("/metrics")
    assert response.status_code == 200 and b"dispatch_queue_waiting" in response.content


def test_it_refuses_everyone_but_staff_without_a_token(settings, anonymous_client):
    settings.METRICS_TOKEN = ""
    assert anonymous_client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_it_counts_requests_per_view(anonymous_client, dispatcher_a_client):
    before = scrape(anonymous_client)
    for _ in range(3):
        assert dispatcher_a_client.get("/api/plans/").status_code == 200
    after = scrape(anonymous_client)
    name = "django_http_requests_total_by_view_transport_method_total"
    labels = {"view": "api_plans", "transport": "http", "method": "GET"}
    assert value(after, name, **labels) - value(before, name, **labels) == 3


def test_it_counts_positions_accepted(anonymous_client, driver_client):
    before = scrape(anonymous_client)
    from django.utils import timezone

    now = timezone.now()
    batch = [
        {"lat": 47.14, "lon": 9.52 + i / 1000, "recorded_at": (now - timedelta(seconds=10 - i)).isoformat()}
        for i in range(4)
    ]
    assert driver_client.post("/api/driver/positions/", {"positions": batch}, format="json").status_code == 202
    after = scrape(anonymous_client)
    accepted = sum(value(after, "dispatch_positions_accepted_total", path=p) for p in ("view", "intake"))
    accepted_before = sum(value(before, "dispatch_positions_accepted_total", path=p) for p in ("view", "intake"))
    assert accepted - accepted_before == 4


def test_it_shows_each_queue_with_its_length_and_age(db, anonymous_client, settings):
    samples = scrape(anonymous_client)
    assert value(samples, "dispatch_queue_stats_up") == 1
    kinds = {dict(labels)["kind"] for name, labels in samples if name == "dispatch_queue_waiting"}
    assert kinds >= {"plans", "live", "notifications", "default"}
    assert (
        value(samples, "dispatch_queue_oldest_age_seconds", kind="plans", queue=settings.CELERY_WORK_QUEUES["plans"])
        >= 0
    )


def test_it_counts_websocket_connections_per_group():
    before = metrics.WEBSOCKET_CONNECTIONS.labels(group="depot.1")._value.get()
    metrics.websocket_opened("depot.1")
    metrics.websocket_opened("depot.1")
    metrics.websocket_closed("depot.1")
    assert metrics.WEBSOCKET_CONNECTIONS.labels(group="depot.1")._value.get() - before == 1


def test_plans_notifications_and_eta_errors_move_the_figures(anonymous_client, dispatcher_a_client, day_of_orders):
    Vehicle.objects.filter(drivers__isnull=True).update(
        available=False
    )  # only vehicles with a driver can be dispatched
    before = scrape(anonymous_client)
    plan_id = request_plan(dispatcher_a_client)["id"]
    with _capture_commits():
        response = dispatcher_a_client.post(f"/api/plans/{plan_id}/dispatch/")
        assert response.status_code == 200, response.json()
    middle = scrape(anonymous_client)
    for stage in ("computing travel times", "optimizing", "saving"):
        observed = value(middle, "dispatch_plan_stage_seconds_count", stage=stage)
        assert observed - value(before, "dispatch_plan_stage_seconds_count", stage=stage) == 1, stage
    optimize = {"task": "routes.tasks.optimize_plan", "state": "SUCCESS"}
    assert value(middle, "dispatch_tasks_total", **optimize) - value(before, "dispatch_tasks_total", **optimize) == 1

    stop = Stop.objects.filter(route__plan_id=plan_id).select_related("order").order_by("eta").first()
    with _capture_commits():
        order_change_status(order=stop.order, to_status=Order.Status.EN_ROUTE)
        order_change_status(order=stop.order, to_status=Order.Status.ARRIVED, at=stop.eta + timedelta(minutes=10))
    after = scrape(anonymous_client)
    count = "dispatch_stop_eta_error_seconds_count"
    total = "dispatch_stop_eta_error_seconds_sum"
    assert value(after, count, eta="planned") - value(middle, count, eta="planned") == 1
    assert value(after, total, eta="planned") - value(middle, total, eta="planned") == pytest.approx(600)


def test_it_counts_notification_outcomes_per_channel(anonymous_client, depot_a):
    from customers.models import Notification
    from customers.notifications.tasks import send_notification

    order = Order.objects.create(
        reference="N1", date="2030-01-01", depot=depot_a, lat=47.14, lon=9.52, email="kim@example.com"
    )
    notification = Notification.objects.create(
        order=order,
        event="scheduled",
        channel="email",
        language="en",
        recipient="kim@example.com",
        subject="Hi",
        body="Hello",
    )
    before = scrape(anonymous_client)
    outcome = send_notification.apply(args=(notification.pk,)).get()
    after = scrape(anonymous_client)
    labels = {"channel": "email", "outcome": outcome}
    assert (
        value(after, "dispatch_notifications_total", **labels) - value(before, "dispatch_notifications_total", **labels)
        == 1
    )


def _capture_commits():
    from tests.routes import test_plans

    return test_plans._capture(execute=True)


def test_it_adds_up_the_processes_of_a_machine_in_multiprocess_mode(tmp_path):
    """Production: several daphne and Celery processes write to PROMETHEUS_MULTIPROC_DIR; any one
    of them answers the scrape with the sum (and a live gauge forgets a process that ended)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}
    count = "from config import metrics; metrics.positions_accepted({n}, path='intake'); metrics.websocket_opened('depot.9')"
    for n in (3, 4):
        subprocess.run([sys.executable, "-c", count.format(n=n)], env=env, check=True, timeout=60)  # noqa: S603
    read = (
        "import django; django.setup(); from config import metrics_endpoint; print(metrics_endpoint.scrape().decode())"
    )
    output = subprocess.run(
        [sys.executable, "-c", read], env=env, check=True, timeout=60, capture_output=True, text=True
    ).stdout  # noqa: S603
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(output)
        for s in family.samples
    }
    assert value(samples, "dispatch_positions_accepted_total", path="intake") == 7
    # Both writers have ended: their connections no longer count.
    assert value(samples, "dispatch_websocket_connections", group="depot.9") == 0
    assert value(samples, "dispatch_queue_stats_up") == 1


def test_the_grafana_dashboard_names_only_metrics_we_serve(db, anonymous_client):
    import json
    import re
    from pathlib import Path

    from django.conf import settings

    dashboard = json.loads((Path(settings.BASE_DIR) / "deploy" / "grafana" / "dispatch-dashboard.json").read_text())
    queried = {
        re.sub(r"_(bucket|count|sum|total)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(?:django|dispatch)_\w+", target["expr"])
    }
    served = anonymous_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    families = {re.sub(r"_total$", "", name) for name in re.findall(r"^# TYPE (\S+)", served, flags=re.MULTILINE)}
    assert queried and queried <= families, queried - families


def test_each_closure_change_is_counted_with_its_re_plans(anonymous_client, dispatcher_a_client, road_network):
    from tests.routes import test_plans

    before = scrape(anonymous_client)
    closure = {"type": "LineString", "coordinates": [[9.5209, 47.1410], [9.5215, 47.1418]]}
    with test_plans._capture(execute=True):
        response = dispatcher_a_client.post(
            "/api/closures/", {"geometry": closure, "reason": "Roadworks"}, format="json"
        )
    assert response.status_code == 201, response.json()
    after = scrape(anonymous_client)
    count = "dispatch_replans_per_closure_change_count"
    assert value(after, count) - value(before, count) == 1
    closure_id = str(response.json()["id"])
    assert value(after, "dispatch_closure_replans_in_force", closure=closure_id) == 0  # no plan runs on that road
    assert ("dispatch_closure_replans_in_force", (("closure", closure_id),)) in after
