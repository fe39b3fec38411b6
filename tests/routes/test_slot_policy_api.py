"""A depot's dispatchers set what customers may book (issue 21, "dispatcher control"): the windows, the
days, the cut-offs, the share per window and self-service, through /api/depots/{depot}/slot-policy/."""

import pytest

from dispatch.models import AuditEntry
from routes.models import SlotPolicy
from tests.routes.test_slots import next_weekday, own_cache, slots_of  # noqa: F401 - own_cache: autouse

pytestmark = pytest.mark.clock


def test_it_shows_the_defaults_then_saves_a_dispatchers_change_that_the_offer_follows(
    dispatcher_a_client, dispatcher_a, depot_a, vehicle_a
):
    tuesday = next_weekday(1)
    defaults = dispatcher_a_client.get("/api/depots/A/slot-policy/").json()
    assert defaults["slot_minutes"] == 120 and defaults["self_service"] is True and defaults["depot"] == "A"
    assert not SlotPolicy.objects.exists()  # reading saves nothing

    answer = dispatcher_a_client.patch(
        "/api/depots/A/slot-policy/",
        {"slot_minutes": 60, "hidden_slots": ["07:00"], "day_before_cutoff": "18:00", "self_service": False},
        format="json",
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["slot_minutes"] == 60 and answer.json()["day_before_cutoff"] == "18:00:00"
    policy = SlotPolicy.objects.get(depot=depot_a)
    assert policy.slot_minutes == 60 and policy.self_service is False and policy.max_share_percent == 40
    slots, _body = slots_of(dispatcher_a_client, tuesday)
    assert list(slots)[:3] == ["08:00", "09:00", "10:00"]  # one-hour windows, 07:00 hidden
    entry = AuditEntry.objects.get(action="slot_policy.update")
    assert entry.actor_id == dispatcher_a.pk
    assert entry.changes["slot_minutes"] == [120, 60] and entry.changes["self_service"] == [True, False]


def test_it_refuses_a_bad_policy_naming_the_field_and_keeps_the_old_one(dispatcher_a_client, depot_a):
    dispatcher_a_client.patch("/api/depots/A/slot-policy/", {"slot_minutes": 90}, format="json")
    for body, field in (
        ({"weekdays": [1, 7]}, "weekdays"),
        ({"hidden_slots": ["7am"]}, "hidden_slots"),
        ({"first_slot_start": "18:00", "last_slot_end": "08:00"}, "last_slot_end"),
        ({"max_share_percent": 0}, "max_share_percent"),
    ):
        answer = dispatcher_a_client.patch("/api/depots/A/slot-policy/", body, format="json")
        assert answer.status_code == 400, (body, answer.json())
        assert field in str(answer.json()), (field, answer.json())
    assert SlotPolicy.objects.get(depot=depot_a).slot_minutes == 90


def test_another_depots_dispatcher_finds_no_policy(dispatcher_b_client, depot_a):
    assert dispatcher_b_client.get("/api/depots/A/slot-policy/").status_code == 404
    assert (
        dispatcher_b_client.patch("/api/depots/A/slot-policy/", {"slot_minutes": 60}, format="json").status_code == 404
    )
    assert not SlotPolicy.objects.exists()
