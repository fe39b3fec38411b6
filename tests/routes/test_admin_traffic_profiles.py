"""Traffic profiles in the admin: 24 hours as a table with a chart, and errors that name the hour."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from routes.admin_widgets import HourlyFactorsField
from routes.models import TrafficProfile
from tests.conftest import PASSWORD

CHANGELIST = reverse("admin:routes_trafficprofile_changelist")


@pytest.fixture
def manager_web(manager):
    client = Client()
    client.force_login(manager)
    return client


@pytest.fixture
def primary(db):
    return TrafficProfile.objects.get(road_class="primary", day_type="weekday")


def _url(profile) -> str:
    return reverse("admin:routes_trafficprofile_change", args=[profile.pk])


def _hours(values) -> dict:
    return {f"hourly_factors_{hour}": value for hour, value in enumerate(values)}


def _post(client, profile, values):
    return client.post(
        _url(profile), {"road_class": profile.road_class, "day_type": profile.day_type, **_hours(values)}
    )


def test_it_shows_the_manager_one_input_per_hour_and_the_chart(manager_web, primary):
    response = manager_web.get(_url(primary))
    assert response.status_code == 200
    page = response.content.decode()
    inputs = re.findall(
        r'<input type="text" inputmode="decimal"[^>]*name="hourly_factors_(\d+)"[^>]*value="([^"]*)"', page
    )
    assert [int(hour) for hour, _ in inputs] == list(range(24))
    assert [float(value) for _, value in inputs] == pytest.approx(primary.hourly_factors)
    assert inputs[8][1] == "0.6"  # as people write it, not 0.6000000000000001
    assert "data-hourly-factors" in page and "data-chart" in page
    assert 'src="/static/js/admin_traffic_profile.js"' in page
    assert '<label for="id_hourly_factors_17">17</label>' in page


def test_it_draws_each_profile_as_a_small_curve_in_the_list(manager_web):
    page = manager_web.get(CHANGELIST).content.decode()
    assert page.count('class="traffic-sparkline"') == TrafficProfile.objects.count()
    assert "lowest 0.60 at 08 h" in page  # primary roads on weekdays: the morning peak


@pytest.mark.parametrize("persona", ["dispatcher_a", "driver_a"])
def test_it_sends_dispatchers_and_drivers_to_the_admin_login(request, persona, primary):
    user = request.getfixturevalue(persona)
    client = Client()
    client.force_login(getattr(user, "user", user))
    for response in (client.get(_url(primary)), _post(client, primary, ["0.5"] * 24)):
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    primary.refresh_from_db()
    assert primary.hourly_factors != [0.5] * 24


def test_it_refuses_staff_without_the_permission(primary):
    clerk = get_user_model().objects.create_user(username="clerk", password=PASSWORD, is_staff=True)
    client = Client()
    client.force_login(clerk)
    assert client.get(_url(primary)).status_code == 403


def test_it_saves_the_hours_as_typed_decimal_commas_included(manager_web, primary):
    values = [str(f) for f in primary.hourly_factors]
    values[8] = "0,45"  # a German keyboard's decimal separator
    values[17] = " 0.5 "
    values[3] = "1"
    response = _post(manager_web, primary, values)
    assert response.status_code == 302, response.context["adminform"].form.errors
    primary.refresh_from_db()
    assert primary.hourly_factors[8] == 0.45 and primary.hourly_factors[17] == 0.5 and primary.hourly_factors[3] == 1.0
    assert all(isinstance(f, float) for f in primary.hourly_factors) and len(primary.hourly_factors) == 24


def test_it_names_each_wrong_hour_and_its_value_and_saves_nothing(manager_web, primary):
    before = list(primary.hourly_factors)
    values = [str(f) for f in before]
    values[3], values[7], values[17], values[23] = "", "fast", "2.5", "0"
    response = _post(manager_web, primary, values)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["hourly_factors"]
    assert list(errors) == [
        "Hour 03–04 h: empty; give a factor from 0.05 to 1.5 (1 = free-flow speed).",
        "Hour 07–08 h: 'fast' is not a number; give a factor from 0.05 to 1.5.",
        "Hour 17–18 h: 2.5 is outside 0.05 to 1.5 (1 = free-flow speed, 0.6 = 60 % of it).",
        "Hour 23–00 h: 0 is outside 0.05 to 1.5 (1 = free-flow speed, 0.6 = 60 % of it).",
    ]
    page = response.content.decode()
    assert 'name="hourly_factors_7" id="id_hourly_factors_7" value="fast"' in page  # kept for correcting
    primary.refresh_from_db()
    assert primary.hourly_factors == before


@pytest.mark.parametrize(
    "value, message",
    [
        ("[1.0, 1.0]", "give exactly 24 numbers, one per hour 00–23; got 2"),
        ("fast", "is not a list of 24 numbers"),
        ([1.0] * 23 + [float("nan")], "Hour 23–00 h: nan is not a number"),
        ([1.0] * 23 + [True], "Hour 23–00 h: True is not a number"),
    ],
)
def test_the_field_refuses_what_is_not_24_factors(value, message):
    with pytest.raises(Exception) as refused:
        HourlyFactorsField().clean(value)
    assert message in " ".join(refused.value.messages)


def test_the_field_reads_the_json_list_scripts_post(manager_web, primary):
    response = manager_web.post(
        _url(primary),
        {"road_class": "primary", "day_type": "weekday", "hourly_factors": "[" + ", ".join(["0.7"] * 24) + "]"},
    )
    assert response.status_code == 302
    primary.refresh_from_db()
    assert primary.hourly_factors == [0.7] * 24
