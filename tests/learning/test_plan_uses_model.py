"""A plan records the travel model version it was timed with, and times each stop with the learned
doorstep where the order brings no service minutes of its own."""

import pytest

from routes.learning import doorstep
from routes.models import Plan, Stop, TravelModel
from tests.routes.test_plans import DAY, VADUZ_POINTS, import_orders


@pytest.fixture(autouse=True)
def _run_on_commit(django_capture_on_commit_callbacks):
    global _capture
    _capture = django_capture_on_commit_callbacks


def _plan(client) -> Plan:
    with _capture(execute=True):
        response = client.post("/api/plans/", {"date": str(DAY)}, format="json")
    assert response.status_code == 202, response.json()
    plan = Plan.objects.get(pk=response.json()["id"])
    assert plan.status == Plan.Status.DONE, plan.error
    return plan


def _obs(seconds):
    return [doorstep.DoorstepObservation("", "", "", "van", 0, seconds) for _ in range(30)]


def test_a_plan_records_its_model_version_and_uses_the_learned_doorstep(
    dispatcher_a_client, depot_a, vehicle_a, driver_a, demo_build
):
    rows = [f"R{i},{DAY},{lat},{lon},,,2,,0" for i, (lat, lon) in enumerate(VADUZ_POINTS[:5])]
    import_orders(dispatcher_a_client, rows)  # no service_minutes column: learned times apply
    without = _plan(dispatcher_a_client)
    assert without.travel_model_version is None
    TravelModel.objects.create(
        version=3, active=True,
        parameters={"service": doorstep.fit(_obs(222), per_item=False), "access": doorstep.fit(_obs(33), per_item=False)},
    )  # fmt: skip
    with_model = _plan(dispatcher_a_client)
    assert with_model.travel_model_version == 3
    assert dispatcher_a_client.get(f"/api/plans/{with_model.pk}/").json()["travel_model_version"] == 3
    services = set(Stop.objects.filter(route__plan=with_model).values_list("service_s", flat=True))
    assert services == {222 + 33}
