"""Which courier partners the planner offers the optimizer for a day, and which orders each may take."""

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings

from dispatch.models import CourierPartner, Handoff
from routes.plans.partners import partner_area, partner_room, partner_takes, partners_of_day, price_cents
from tests.partners.conftest import new_order

ZONE = ZoneInfo(settings.TIME_ZONE)


def at(day, hour, minute=0):
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE)


def test_a_partner_is_offered_on_its_weekdays_until_its_cut_off(partner, other_partner, tomorrow):
    # alpen: cut-off 07:00 before it opens at 08:00, so on the day; berg: 17:55 the evening before.
    assert [p.code for p in partners_of_day(tomorrow, now=at(tomorrow, 6, 59))] == ["alpen"]
    assert [p.code for p in partners_of_day(tomorrow, now=at(tomorrow - timedelta(days=1), 17, 54))] == [
        "alpen",
        "berg",
    ]
    assert partners_of_day(tomorrow, now=at(tomorrow, 7)) == []
    assert [p.code for p in partners_of_day(tomorrow, now=None)] == ["alpen", "berg"]
    CourierPartner.objects.filter(code="alpen").update(days=[tomorrow.isoweekday() % 7 + 1])
    CourierPartner.objects.filter(code="berg").update(active=False)
    assert partners_of_day(tomorrow, now=None) == []


def test_a_partner_takes_orders_of_its_area_skills_and_hours_only(partner, other_partner, depot_a, zone_a, tomorrow):
    inside = new_order(depot_a, "IN", tomorrow, zone=zone_a, skills=["fridge"])
    outside = new_order(depot_a, "OUT", tomorrow, lat=46.5, lon=8.5)
    evening = new_order(
        depot_a, "EVE", tomorrow, zone=zone_a, window_start=at(tomorrow, 18, 30), window_end=at(tomorrow, 20)
    )
    late_afternoon = new_order(
        depot_a, "PM", tomorrow, zone=zone_a, window_start=at(tomorrow, 17), window_end=at(tomorrow, 19)
    )
    alpen, berg = partner_area(partner), partner_area(other_partner)
    assert partner_takes(partner, inside, alpen)
    assert not partner_takes(partner, outside, alpen)
    assert not partner_takes(partner, evening, alpen)  # its window starts after the partner closes at 18:00
    assert partner_takes(partner, late_afternoon, alpen)  # it overlaps 17:00-18:00
    assert not partner_takes(other_partner, inside, berg)  # berg has no fridge


def test_its_room_is_its_capacity_less_what_it_already_has_that_day(partner, depot_a, zone_a, tomorrow, dispatcher_a):
    assert partner_room(partner, tomorrow) == (10, Decimal("200"))
    for n, status in enumerate([Handoff.Status.ACCEPTED, Handoff.Status.REJECTED, Handoff.Status.DELIVERED]):
        order = new_order(depot_a, f"H{n}", tomorrow, zone=zone_a, weight_kg=Decimal("30"))
        Handoff.objects.create(order=order, partner=partner, status=status, cutoff_at=at(tomorrow, 7))
    # The rejected one gave its room back.
    assert partner_room(partner, tomorrow) == (8, Decimal("140"))
    assert partner_room(partner, tomorrow + timedelta(days=1)) == (10, Decimal("200"))


def test_the_price_is_the_partners_model_in_cents(partner, depot_a, zone_a, tomorrow):
    order = new_order(depot_a, "P", tomorrow, zone=zone_a, weight_kg=Decimal("12.5"))
    # 9.50 per stop + 0.200 x 12.5 kg + 2.50 for Malbun
    assert price_cents(partner, order) == 950 + 250 + 250
