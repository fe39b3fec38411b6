"""Resolving many alerts in one POST (/api/alerts/resolve/), checked alert by alert, by persona."""

import pytest
from django.utils import timezone

from dispatch import alerts
from dispatch.live import alerts as live_alerts
from dispatch.live import broadcast
from dispatch.models import Alert


def _open(depot, key: str, kind: str = "late", driver=None) -> Alert:
    return alerts.alert_open(
        depot_id=depot.pk, kind=kind, dedup_key=key, message=f"{key} needs you", driver_id=driver.pk if driver else None
    )


@pytest.fixture
def alerts_a(depot_a):
    return [_open(depot_a, f"test:a{n}") for n in range(3)]


@pytest.fixture
def alert_b(depot_b):
    return _open(depot_b, "test:b")


def _post(client, ids):
    return client.post("/api/alerts/resolve/", {"alerts": ids}, format="json")


def test_it_resolves_the_dispatchers_alerts_in_one_post(dispatcher_a_client, dispatcher_a, alerts_a):
    ids = [alert.pk for alert in alerts_a]
    response = _post(dispatcher_a_client, ids)
    assert response.status_code == 200
    assert response.json() == {"resolved": sorted(ids), "already_resolved": [], "not_found": []}
    assert set(Alert.objects.filter(pk__in=ids).values_list("resolved_by__username", flat=True)) == {"disp_a"}
    assert not Alert.objects.filter(pk__in=ids, resolved_at__isnull=True).exists()


def test_it_leaves_another_depots_alert_alone_and_says_so(dispatcher_a_client, alerts_a, alert_b):
    ids = [alerts_a[0].pk, alert_b.pk]
    response = _post(dispatcher_a_client, ids)
    assert response.status_code == 200
    assert response.json() == {"resolved": [alerts_a[0].pk], "already_resolved": [], "not_found": [alert_b.pk]}
    alert_b.refresh_from_db()
    assert alert_b.resolved_at is None


def test_it_lets_a_dispatcher_of_depot_b_resolve_nothing_of_depot_a(dispatcher_b_client, alerts_a):
    response = _post(dispatcher_b_client, [alert.pk for alert in alerts_a])
    assert response.json()["resolved"] == [] and len(response.json()["not_found"]) == 3
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 3


def test_it_lets_a_manager_resolve_every_depot(manager_client, alerts_a, alert_b):
    ids = [alert.pk for alert in alerts_a] + [alert_b.pk]
    assert _post(manager_client, ids).json()["resolved"] == sorted(ids)


def test_it_reports_alerts_resolved_before(dispatcher_a_client, alerts_a):
    alerts.alert_resolve(alert=alerts_a[0])  # resolved automatically: the condition went away
    response = _post(dispatcher_a_client, [alert.pk for alert in alerts_a])
    assert response.json()["already_resolved"] == [alerts_a[0].pk]
    assert response.json()["resolved"] == sorted(alert.pk for alert in alerts_a[1:])
    assert Alert.objects.get(pk=alerts_a[0].pk).resolved_by is None  # not taken over by the dispatcher


def test_it_refuses_drivers_and_anonymous_visitors(driver_client, anonymous_client, alerts_a):
    ids = [alert.pk for alert in alerts_a]
    assert _post(driver_client, ids).status_code == 403
    assert _post(anonymous_client, ids).status_code == 401
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 3


@pytest.mark.parametrize(
    "body",
    [{"alerts": []}, {"alerts": ["x"]}, {"alerts": [0]}, {"alerts": [2**63]}, {}, {"alerts": list(range(1, 1002))}],
)
def test_it_names_the_field_of_a_bad_request(dispatcher_a_client, body):
    response = dispatcher_a_client.post("/api/alerts/resolve/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"].startswith("alerts")


def test_it_tells_the_dashboards_of_each_resolved_alert(dispatcher_a_client, alerts_a, monkeypatch,
                                                        django_capture_on_commit_callbacks):  # fmt: skip
    sent = []
    monkeypatch.setattr(broadcast, "publish_to_depot", lambda depot_id, message: sent.append(message))
    with django_capture_on_commit_callbacks(execute=True):
        _post(dispatcher_a_client, [alert.pk for alert in alerts_a])
    assert sorted(m["id"] for m in sent) == sorted(alert.pk for alert in alerts_a)
    assert all(m["resolved"] and m["kind_label"] == "Predicted late" for m in sent)


def test_it_resolves_each_alert_once_when_two_dispatchers_click_together(dispatcher_a, manager, alerts_a):
    ids = [alert.pk for alert in alerts_a]
    first = live_alerts.alerts_resolve_many(user=dispatcher_a, alert_ids=ids, at=timezone.now())
    second = live_alerts.alerts_resolve_many(user=manager, alert_ids=ids)
    assert first["resolved"] == sorted(ids) and second["resolved"] == []
    assert second["already_resolved"] == sorted(ids)


def test_it_filters_the_alert_list_by_kind_and_driver(dispatcher_a_client, depot_a, driver_a):
    late = _open(depot_a, "test:late", driver=driver_a)
    _open(depot_a, "test:idle", kind="idle")
    assert [a["id"] for a in dispatcher_a_client.get("/api/alerts/", {"kind": "late"}).json()] == [late.pk]
    assert [a["id"] for a in dispatcher_a_client.get("/api/alerts/", {"driver": driver_a.pk}).json()] == [late.pk]
    assert dispatcher_a_client.get("/api/alerts/", {"kind": "nonsense"}).json()["errors"][0]["field"] == "kind"


def test_it_documents_the_bulk_resolve_in_the_openapi_schema(anonymous_client):
    schema = anonymous_client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/alerts/resolve/"]["post"]
    assert operation["operationId"] == "alerts_resolve_many"
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert schema["components"]["schemas"][body]["required"] == ["alerts"]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][answer]["properties"]) == {"resolved", "already_resolved", "not_found"}
    kinds = {p["name"]: p for p in schema["paths"]["/api/alerts/"]["get"]["parameters"]}
    assert set(kinds["kind"]["schema"]["enum"]) == set(Alert.Kind.values)
