"""The alert API by persona: office staff of the alert's depot only; another depot's alert is a 404."""

import pytest

from dispatch import alerts


@pytest.fixture
def alert_a(depot_a):
    return alerts.alert_open(depot_id=depot_a.pk, kind="other", dedup_key="test:a", message="Depot A needs you")


@pytest.fixture
def alert_b(depot_b):
    return alerts.alert_open(depot_id=depot_b.pk, kind="other", dedup_key="test:b", message="Depot B needs you")


def test_it_lists_only_the_alerts_of_the_dispatchers_depots(dispatcher_a_client, alert_a, alert_b):
    response = dispatcher_a_client.get("/api/alerts/", {"open": "1"})
    assert response.status_code == 200
    assert [a["id"] for a in response.json()] == [alert_a.pk]
    assert response.json()[0]["depot"] == "A" and response.json()[0]["resolved_at"] is None


def test_it_lists_every_depot_for_a_manager(manager_client, alert_a, alert_b):
    assert {a["id"] for a in manager_client.get("/api/alerts/?open=1").json()} == {alert_a.pk, alert_b.pk}


def test_it_lets_the_depot_dispatcher_resolve_and_then_leaves_it_out_of_open(
    dispatcher_a_client, dispatcher_a, alert_a
):
    response = dispatcher_a_client.post(f"/api/alerts/{alert_a.pk}/resolve/")
    assert response.status_code == 200
    assert response.json()["resolved_at"] and response.json()["resolved_by"] == dispatcher_a.username
    again = dispatcher_a_client.post(f"/api/alerts/{alert_a.pk}/resolve/")
    assert again.status_code == 200 and again.json()["resolved_at"] == response.json()["resolved_at"]
    assert dispatcher_a_client.get("/api/alerts/?open=1").json() == []
    assert [a["id"] for a in dispatcher_a_client.get("/api/alerts/").json()] == [alert_a.pk]


def test_it_answers_404_to_a_dispatcher_of_another_depot(dispatcher_b_client, alert_a):
    assert dispatcher_b_client.post(f"/api/alerts/{alert_a.pk}/resolve/").status_code == 404
    alert_a.refresh_from_db()
    assert alert_a.resolved_at is None


def test_it_refuses_drivers_and_anonymous_visitors(driver_client, anonymous_client, alert_a):
    assert driver_client.get("/api/alerts/").status_code == 403
    assert driver_client.post(f"/api/alerts/{alert_a.pk}/resolve/").status_code == 403
    assert anonymous_client.get("/api/alerts/").status_code == 401
    assert anonymous_client.post(f"/api/alerts/{alert_a.pk}/resolve/").status_code == 401
