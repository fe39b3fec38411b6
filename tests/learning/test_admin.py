"""The admin lists the travel model's versions with their scores, learns one on demand, and goes back
to an older version when a manager says so."""

import pytest
from django.test import Client

from routes.models import TravelModel


@pytest.fixture
def manager_browser(manager):
    client = Client()
    client.force_login(manager)
    return client


def test_managers_see_the_versions_learn_on_demand_and_choose_the_active_one(manager_browser):
    old = TravelModel.objects.create(version=1, score={"candidate": {"legs": 40, "mean": 95.0, "p90": 210.0}})
    TravelModel.objects.create(version=2, active=True, score={"candidate": {"legs": 40, "mean": 90.0, "p90": 200.0}})
    page = manager_browser.get("/admin/routes/travelmodel/")
    assert page.status_code == 200 and b"210.0" in page.content
    # learning now runs the nightly task (inline here); no driving yet, so no new version
    response = manager_browser.post(
        "/admin/routes/travelmodel/", {"action": "learn_now", "_selected_action": [old.pk]}, follow=True
    )
    assert response.status_code == 200 and TravelModel.objects.count() == 2
    response = manager_browser.post(
        "/admin/routes/travelmodel/", {"action": "use_version", "_selected_action": [old.pk]}, follow=True
    )
    assert response.status_code == 200
    assert list(TravelModel.objects.filter(active=True).values_list("version", flat=True)) == [1]
