import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from routes.models import RoadClosure, TrafficProfile

LINE = {"type": "LineString", "coordinates": [[9.52, 47.14], [9.53, 47.15]]}


@pytest.fixture
def manager_browser(manager):
    client = Client()
    client.force_login(manager)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/routes/roadclosure/",
        "/admin/routes/roadclosure/add/",
        "/admin/routes/trafficprofile/",
        "/admin/routes/roadnetworkbuild/",
        "/admin/routes/plan/",
        "/admin/routes/route/",
    ],
)
def test_it_renders_routes_admin_pages_for_managers(manager_browser, url):
    assert manager_browser.get(url).status_code == 200


def test_it_creates_closures_through_the_service_and_lifts_instead_of_deleting(manager_browser, manager):
    response = manager_browser.post(
        "/admin/routes/roadclosure/add/",
        {"reason": "market", "geometry": json.dumps(LINE), "starts_at_0": "2026-11-24", "starts_at_1": "06:00:00"},
    )
    assert response.status_code == 302
    closure = RoadClosure.objects.get()
    assert closure.created_by == manager and closure.version == 1
    response = manager_browser.post(f"/admin/routes/roadclosure/{closure.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    closure.refresh_from_db()
    assert closure.lifted_at is not None and closure.version == 2


def test_it_rejects_a_bad_closure_geometry_in_the_admin(manager_browser):
    response = manager_browser.post(
        "/admin/routes/roadclosure/add/",
        {
            "reason": "x",
            "geometry": json.dumps({"type": "Point", "coordinates": [9.5, 47.1]}),
            "starts_at_0": "2026-11-24",
            "starts_at_1": "06:00",
        },
    )
    assert response.status_code == 200
    assert "LineString" in response.content.decode()
    assert not RoadClosure.objects.exists()


def test_it_lets_managers_edit_traffic_profiles_with_validation(manager_browser):
    profile = TrafficProfile.objects.get(road_class="primary", day_type="weekday")
    url = f"/admin/routes/trafficprofile/{profile.pk}/change/"
    bad = manager_browser.post(
        url, {"road_class": "primary", "day_type": "weekday", "hourly_factors": json.dumps([1.0] * 23)}
    )
    assert bad.status_code == 200 and "24 numbers" in bad.content.decode()
    good = manager_browser.post(
        url, {"road_class": "primary", "day_type": "weekday", "hourly_factors": json.dumps([0.5] * 24)}
    )
    assert good.status_code == 302
    profile.refresh_from_db()
    assert profile.hourly_factors == [0.5] * 24


def test_it_keeps_dispatchers_out_of_the_admin(dispatcher_a):
    client = Client()
    client.force_login(dispatcher_a)
    assert client.get("/admin/routes/roadclosure/").status_code == 302
    assert get_user_model().objects.get(pk=dispatcher_a.pk).is_staff is False
