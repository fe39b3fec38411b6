"""The order's page (/orders/<id>/): who may see it, what it shows, and its actions (reschedule,
edit notes and window, cancel, move to another route), each validated and permission-checked.
Actions on an order of a dispatched plan go through the plan edit service (a new version)."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from customers.models import CustomerMessage, Event, Notification
from dispatch.models import Customer, Order, ProofOfDelivery
from routes.models import Plan, Stop
from tests.routes.conftest import demo_network_dir, road_network  # noqa: F401 - fixtures
from tests.routes.test_plans import DAY, day_of_orders, import_orders, request_plan  # noqa: F401 - fixtures

ZONE = ZoneInfo(settings.TIME_ZONE)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE)


@pytest.fixture
def _run_on_commit(django_capture_on_commit_callbacks):
    import tests.routes.test_plans as plans_module

    plans_module._capture = django_capture_on_commit_callbacks


@pytest.fixture
def order_a(depot_a):
    customer = Customer.objects.create(name="Anna Muster", email="anna@example.com", language="en")
    day = timezone.localdate() + timedelta(days=1)
    return Order.objects.create(
        reference="ORD-A1", date=day, depot=depot_a, customer=customer, customer_name="Anna Muster",
        email="anna@example.com", address="Städtle 1, Vaduz", lat=47.1399, lon=9.5213,
        window_start=local(day, 10), window_end=local(day, 12), notes="Ring twice",
    )  # fmt: skip


def browser_client(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def page_url(order, action: str = "") -> str:
    return f"/orders/{order.pk}/" + (f"{action}/" if action else "")


ACTIONS = ["reschedule", "edit", "cancel", "move"]


# --- who may see and change it --------------------------------------------------------------------


def test_it_shows_the_order_to_a_dispatcher_of_its_depot(dispatcher_a, order_a):
    response = browser_client(dispatcher_a).get(page_url(order_a))
    assert response.status_code == 200
    html = response.content.decode()
    assert "ORD-A1" in html and "Anna Muster" in html and "Ring twice" in html
    assert f"All times in {settings.TIME_ZONE}" in html
    assert "10:00–12:00" in html  # the window in the company's zone
    assert 'class="order-map"' in html and "Not in a plan yet" in html
    for action in ACTIONS[:3]:
        assert f'action="{page_url(order_a, action)}"' in html


def test_it_answers_404_to_a_dispatcher_of_another_depot(dispatcher_b, order_a):
    client = browser_client(dispatcher_b)
    assert client.get(page_url(order_a)).status_code == 404
    for action in ACTIONS:
        assert client.post(page_url(order_a, action), {"date": "2099-01-01"}).status_code == 404
    order_a.refresh_from_db()
    assert order_a.status == "new"


def test_it_shows_orders_of_every_depot_to_a_manager(manager, order_a):
    assert browser_client(manager).get(page_url(order_a)).status_code == 200


def test_it_refuses_a_driver(driver_a, order_a):
    client = browser_client(driver_a.user)
    assert client.get(page_url(order_a)).status_code == 403
    for action in ACTIONS:
        assert client.post(page_url(order_a, action), {"note": "x"}).status_code == 403
    order_a.refresh_from_db()
    assert order_a.status == "new"


def test_it_sends_an_anonymous_visitor_to_the_login_page(order_a, db):
    client = Client()
    response = client.get(page_url(order_a))
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    for action in ACTIONS:
        response = client.post(page_url(order_a, action), {})
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_it_refuses_an_action_without_the_csrf_token(dispatcher_a, order_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(dispatcher_a)
    assert client.post(page_url(order_a, "cancel"), {}).status_code == 403
    order_a.refresh_from_db()
    assert order_a.status == "new"


def test_it_takes_actions_by_post_only(dispatcher_a, order_a):
    assert browser_client(dispatcher_a).get(page_url(order_a, "cancel")).status_code == 405


# --- reschedule and edit ----------------------------------------------------------------------------


def test_it_reschedules_to_another_day_and_window_and_tells_the_customer(dispatcher_a, order_a):
    new_day = order_a.date + timedelta(days=2)
    response = browser_client(dispatcher_a).post(
        page_url(order_a, "reschedule"),
        {"date": new_day.isoformat(), "window_start": "14:00", "window_end": "16:30", "tell_customer": "on"},
    )
    assert response.status_code == 302 and response["Location"] == page_url(order_a)
    order_a.refresh_from_db()
    assert order_a.date == new_day and order_a.status == "new"
    assert (order_a.window_start, order_a.window_end) == (local(new_day, 14), local(new_day, 16, 30))
    [told] = CustomerMessage.objects.filter(order=order_a, direction="out")
    assert f"{new_day:%d %B %Y}" in told.text and "14:00 and 16:30" in told.text and told.author == dispatcher_a
    assert Notification.objects.filter(order=order_a, event=Event.REPLY).exists()


def test_it_reschedules_without_telling_the_customer_when_asked_not_to(dispatcher_a, order_a):
    new_day = order_a.date + timedelta(days=1)
    browser_client(dispatcher_a).post(
        page_url(order_a, "reschedule"), {"date": new_day.isoformat(), "window_start": "", "window_end": ""}
    )
    order_a.refresh_from_db()
    assert order_a.date == new_day and order_a.window_start is None and order_a.window_end is None
    assert not CustomerMessage.objects.filter(order=order_a).exists()


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"date": "2026-13-45", "window_start": "10:00", "window_end": "12:00"}, "date", "“2026-13-45” is not a day"),
        ({"date": "", "window_start": "10:00", "window_end": "12:00"}, "date", "This field is required"),
        ({"date": "+1", "window_start": "12:00", "window_end": "09:30"}, "window_end", "09:30, not after it starts at 12:00"),
        ({"date": "+1", "window_start": "12:00", "window_end": "12:00"}, "window_end", "not after it starts"),
        ({"date": "+1", "window_start": "25:99", "window_end": "12:00"}, "window_start", "“25:99” is not a time of day"),
        ({"date": "+1", "window_start": "10:00", "window_end": ""}, "window_end", "Give both ends"),
        ({"date": "-1", "window_start": "10:00", "window_end": "12:00"}, "date", "is over: choose today"),
    ],
)  # fmt: skip
def test_it_refuses_a_bad_reschedule_naming_the_field_and_value(dispatcher_a, order_a, data, field, words):
    before = Order.objects.values().get(pk=order_a.pk)
    today = timezone.localdate()
    if data["date"] in ("+1", "-1"):
        data = {**data, "date": (today + timedelta(days=int(data["date"]))).isoformat()}
    response = browser_client(dispatcher_a).post(page_url(order_a, "reschedule"), data)
    assert response.status_code == 400
    form = response.context["reschedule_form"]
    assert any(words in error for error in form.errors[field]), form.errors
    assert (
        words.replace("“", "&ldquo;").split("&")[0] in response.content.decode() or words in response.content.decode()
    )
    assert 'id="action-reschedule" open' in response.content.decode()
    assert Order.objects.values().get(pk=order_a.pk) == before


def test_it_refuses_to_reschedule_an_order_the_driver_is_driving_to(dispatcher_a, order_a):
    Order.objects.filter(pk=order_a.pk).update(status="en_route")
    response = browser_client(dispatcher_a).post(
        page_url(order_a, "reschedule"),
        {"date": (order_a.date + timedelta(days=1)).isoformat(), "window_start": "", "window_end": ""},
    )
    assert response.status_code == 409
    assert "en route: the driver settles it at the door" in response.content.decode()
    order_a.refresh_from_db()
    assert order_a.date == timezone.localdate() + timedelta(days=1)


def test_it_edits_notes_and_window_on_the_same_day(dispatcher_a, order_a):
    response = browser_client(dispatcher_a).post(
        page_url(order_a, "edit"), {"notes": "  Back door, dog  ", "window_start": "11:00", "window_end": "13:00"}
    )
    assert response.status_code == 302
    order_a.refresh_from_db()
    assert order_a.notes == "Back door, dog"
    assert (order_a.window_start, order_a.window_end) == (local(order_a.date, 11), local(order_a.date, 13))
    assert not CustomerMessage.objects.filter(order=order_a).exists()  # the box was not ticked


def test_it_edits_the_notes_alone_without_telling_anyone(dispatcher_a, order_a):
    response = browser_client(dispatcher_a).post(
        page_url(order_a, "edit"), {"notes": "Leave at the neighbour's", "window_start": "10:00", "window_end": "12:00",
                                     "tell_customer": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    order_a.refresh_from_db()
    assert order_a.notes == "Leave at the neighbour's" and order_a.window_start == local(order_a.date, 10)
    assert not CustomerMessage.objects.filter(order=order_a).exists()  # nothing the customer needs to hear


def test_it_refuses_an_edit_with_a_window_ending_before_it_starts(dispatcher_a, order_a):
    response = browser_client(dispatcher_a).post(
        page_url(order_a, "edit"), {"notes": "x", "window_start": "15:00", "window_end": "14:00"}
    )
    assert response.status_code == 400
    assert "14:00, not after it starts at 15:00" in response.context["edit_form"].errors["window_end"][0]
    order_a.refresh_from_db()
    assert order_a.notes == "Ring twice"


# --- cancel -----------------------------------------------------------------------------------------


def test_it_cancels_and_tells_the_customer(dispatcher_a, order_a):
    response = browser_client(dispatcher_a).post(
        page_url(order_a, "cancel"), {"note": "customer called", "tell_customer": "on"}
    )
    assert response.status_code == 302
    order_a.refresh_from_db()
    assert order_a.status == "cancelled"
    change = order_a.status_history.get(to_status="cancelled")
    assert change.changed_by == dispatcher_a and change.note == "customer called"
    [told] = CustomerMessage.objects.filter(order=order_a, direction="out")
    assert told.text == "Your delivery ORD-A1 is cancelled."
    page = browser_client(dispatcher_a).get(page_url(order_a)).content.decode()
    assert "Your delivery ORD-A1 is cancelled." in page and 'id="action-cancel"' not in page


def test_it_tells_a_german_customer_in_german(dispatcher_a, order_a):
    Customer.objects.filter(pk=order_a.customer_id).update(language="de")
    browser_client(dispatcher_a).post(page_url(order_a, "cancel"), {"tell_customer": "on"})
    assert CustomerMessage.objects.get(order=order_a).text == "Ihre Lieferung ORD-A1 wurde storniert."


def test_it_refuses_to_cancel_a_delivered_order(dispatcher_a, order_a):
    Order.objects.filter(pk=order_a.pk).update(status="delivered")
    response = browser_client(dispatcher_a).post(page_url(order_a, "cancel"), {"tell_customer": "on"})
    assert response.status_code == 409
    assert "ORD-A1 is delivered and cannot be cancelled" in response.content.decode()
    order_a.refresh_from_db()
    assert order_a.status == "delivered" and not CustomerMessage.objects.exists()


def test_it_refuses_a_move_when_the_order_is_in_no_plan(dispatcher_a, order_a, vehicle_a):
    response = browser_client(dispatcher_a).post(page_url(order_a, "move"), {"vehicle": vehicle_a.pk})
    assert response.status_code == 400
    assert f"Vehicle {vehicle_a.pk} has no route" in response.context["move_form"].errors["vehicle"][0]


# --- proof of delivery ------------------------------------------------------------------------------


def test_it_shows_the_proof_of_delivery_with_its_photo_and_signature(dispatcher_a, dispatcher_b, order_a, driver_a):
    from django.core.files.base import ContentFile

    Order.objects.filter(pk=order_a.pk).update(status="delivered")
    proof = ProofOfDelivery(
        order=order_a, driver=driver_a, recipient_name="Berta Nachbarin", delivered_at=local(order_a.date, 10, 42)
    )
    proof.photo.save("photo.jpg", ContentFile(b"\xff\xd8\xff\xe0photo"), save=False)
    proof.signature.save("signature.png", ContentFile(b"\x89PNG\r\n\x1a\nsig"), save=False)
    proof.save()
    client = browser_client(dispatcher_a)
    html = client.get(page_url(order_a)).content.decode()
    assert "Berta Nachbarin" in html and "10:42" in html and "Dana Driver" in html
    photo_url = f"/orders/{order_a.pk}/proofs/{proof.pk}/photo/"
    assert f'src="{photo_url}"' in html
    response = client.get(photo_url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"\xff\xd8\xff\xe0photo"
    assert browser_client(dispatcher_b).get(photo_url).status_code == 404
    assert client.get(f"/orders/{order_a.pk}/proofs/{proof.pk}/other/").status_code == 404


# --- with a dispatched plan: through the plan edit service -------------------------------------------


@pytest.fixture
def dispatched(dispatcher_a_client, day_of_orders, _run_on_commit):  # noqa: F811 - the imported fixture
    from dispatch.fleet.services import driver_create
    from dispatch.models import Driver, Vehicle
    from tests.conftest import PASSWORD

    bike = Vehicle.objects.get(name="A-Bike")
    if not Driver.objects.filter(vehicle=bike).exists():  # every route needs a driver to be dispatched
        driver_create(username="driver_bike", password=PASSWORD, name="Ben Biker", vehicle=bike)
    Order.objects.update(email="kunde@example.li")  # someone to tell
    plan = request_plan(dispatcher_a_client)
    response = dispatcher_a_client.post(f"/api/plans/{plan['id']}/dispatch/")
    assert response.status_code == 200, response.json()
    return Plan.objects.get(pk=plan["id"])


def stop_of(order_id: int, plan: Plan):
    return Stop.objects.filter(route__plan=plan, order_id=order_id).select_related("route__vehicle").first()


def newest_plan() -> Plan:
    return Plan.objects.filter(dispatched_at__isnull=False).order_by("-version").first()


def test_it_shows_route_vehicle_driver_and_etas_of_a_dispatched_order(dispatcher_a, dispatched, driver_a):
    stop = Stop.objects.filter(route__plan=dispatched).select_related("route__vehicle", "order").first()
    Stop.objects.filter(pk=stop.pk).update(live_eta=stop.eta + timedelta(minutes=7), live_eta_updated_at=timezone.now())
    html = browser_client(dispatcher_a).get(page_url(stop.order)).content.decode()
    assert stop.route.vehicle.name in html
    assert f"{timezone.localtime(stop.eta):%H:%M}" in html
    assert f"{timezone.localtime(stop.eta + timedelta(minutes=7)):%H:%M}" in html
    assert f"/plans/{dispatched.pk}/" in html and 'id="action-move"' in html
    if stop.route.driver_id:
        assert stop.route.driver.name in html


def test_it_moves_an_order_to_another_route_as_a_new_plan_version(
    dispatcher_a, dispatched, django_capture_on_commit_callbacks
):
    stop = Stop.objects.filter(route__plan=dispatched).select_related("route").first()
    target = next(c.vehicle_id for c in _choices(stop.order) if not c.current)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser_client(dispatcher_a).post(page_url(stop.order, "move"), {"vehicle": target})
    assert response.status_code == 302, response.context and response.context["move_form"].errors
    revision = newest_plan()
    assert revision.version == dispatched.version + 1 and revision.parent_id == dispatched.pk
    assert stop_of(stop.order_id, revision).route.vehicle_id == target
    assert stop_of(stop.order_id, dispatched).route.vehicle_id == stop.route.vehicle_id  # the old version stays
    assert Order.objects.get(pk=stop.order_id).status == "dispatched"


def _choices(order):
    from dispatch.order_desk.selectors import order_placement, order_route_choices

    return order_route_choices(order, order_placement(order))


def test_it_refuses_to_move_an_order_to_a_route_of_another_depot(dispatcher_a, dispatched, vehicle_b):
    stop = Stop.objects.filter(route__plan=dispatched).first()
    response = browser_client(dispatcher_a).post(page_url(stop.order, "move"), {"vehicle": vehicle_b.pk})
    assert response.status_code == 400
    [error] = response.context["move_form"].errors["vehicle"]
    assert error == f"Vehicle {vehicle_b.pk} has no route of this order's depot on its day."
    assert f"Vehicle {vehicle_b.pk} has no route of this order" in response.content.decode()
    assert newest_plan().pk == dispatched.pk


def test_it_refuses_a_move_as_a_service_to_another_depots_vehicle(dispatcher_a, dispatched, vehicle_b):
    from dispatch.errors import DispatchError
    from dispatch.order_desk.services import order_move_to_route

    stop = Stop.objects.filter(route__plan=dispatched).select_related("order").first()
    with pytest.raises(DispatchError) as refused:
        order_move_to_route(order=stop.order, vehicle_id=vehicle_b.pk, by=dispatcher_a)
    assert (
        refused.value.errors == [{"field": "vehicle", "value": vehicle_b.pk, "message": refused.value.message}]
        and "depot A" in refused.value.message
    )


def test_it_cancels_a_dispatched_order_off_its_route_and_tells_only_that_it_is_cancelled(
    dispatcher_a, dispatched, django_capture_on_commit_callbacks
):
    stop = Stop.objects.filter(route__plan=dispatched).first()
    with django_capture_on_commit_callbacks(execute=True):
        response = browser_client(dispatcher_a).post(page_url(stop.order, "cancel"), {"tell_customer": "on"})
    assert response.status_code == 302
    revision = newest_plan()
    assert revision.version == dispatched.version + 1 and stop_of(stop.order_id, revision) is None
    assert Order.objects.get(pk=stop.order_id).status == "cancelled"
    events = set(Notification.objects.filter(order_id=stop.order_id).values_list("event", flat=True))
    assert Event.REPLY in events and Event.RESCHEDULED not in events  # no "we will reschedule" for a cancel


def test_it_reschedules_a_dispatched_order_to_another_day_off_its_route(
    dispatcher_a, dispatched, django_capture_on_commit_callbacks
):
    stop = Stop.objects.filter(route__plan=dispatched).first()
    new_day = DAY + timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser_client(dispatcher_a).post(
            page_url(stop.order, "reschedule"),
            {"date": new_day.isoformat(), "window_start": "09:00", "window_end": "11:00", "tell_customer": "on"},
        )
    assert response.status_code == 302
    revision = newest_plan()
    assert revision.version == dispatched.version + 1 and stop_of(stop.order_id, revision) is None
    order = Order.objects.get(pk=stop.order_id)
    assert order.date == new_day and order.status == "new" and order.window_start == local(new_day, 9)
    events = set(Notification.objects.filter(order=order).values_list("event", flat=True))
    assert {Event.RESCHEDULED, Event.REPLY} <= events  # "we will reschedule", then the new day


def test_it_retimes_the_route_when_the_window_of_a_dispatched_order_changes(dispatcher_a, dispatched):
    stop = Stop.objects.filter(route__plan=dispatched).select_related("order", "route").last()
    response = browser_client(dispatcher_a).post(
        page_url(stop.order, "edit"), {"notes": stop.order.notes, "window_start": "15:00", "window_end": "16:00"}
    )
    assert response.status_code == 302
    revision = newest_plan()
    assert revision.version == dispatched.version + 1
    moved = stop_of(stop.order_id, revision)
    assert moved.route.vehicle_id == stop.route.vehicle_id and moved.sequence == stop.sequence
    assert Order.objects.get(pk=stop.order_id).window_start == local(DAY, 15)


def test_it_links_the_order_page_from_today_and_the_plan(dispatcher_a, dispatched):
    stop = Stop.objects.filter(route__plan=dispatched).select_related("order").first()
    client = browser_client(dispatcher_a)
    assert f'href="/orders/{stop.order_id}/"' in client.get(f"/?date={DAY.isoformat()}").content.decode()
    assert f'href="/orders/{stop.order_id}/"' in client.get(f"/plans/{dispatched.pk}/").content.decode()


def test_it_shows_new_fields_in_the_api(dispatcher_a_client, dispatched):
    stop = Stop.objects.filter(route__plan=dispatched).select_related("route__vehicle").first()
    body = dispatcher_a_client.get(f"/api/orders/{stop.order_id}/").json()
    assert body["plan"] == dispatched.pk and body["vehicle"] == stop.route.vehicle.name
    assert body["eta"] and body["live_eta"] is None and body["page_url"].endswith(f"/orders/{stop.order_id}/")


def test_it_answers_the_api_detail_of_an_order_in_no_plan(dispatcher_a_client, order_a):
    body = dispatcher_a_client.get(f"/api/orders/{order_a.pk}/").json()
    assert body["plan"] is None and body["vehicle"] is None and body["driver"] is None and body["eta"] is None
    assert body["proofs"] == []


def test_it_says_when_the_customer_could_not_be_told(dispatcher_a, order_a):
    Customer.objects.filter(pk=order_a.customer_id).update(opted_out=True)
    response = browser_client(dispatcher_a).post(page_url(order_a, "cancel"), {"tell_customer": "on"}, follow=True)
    assert "The customer could not be told" in response.content.decode()
    assert CustomerMessage.objects.filter(order=order_a).exists()  # kept in the conversation all the same


def test_it_draws_the_page_of_a_dispatched_order_in_few_queries(
    dispatcher_a, dispatched, django_assert_max_num_queries
):
    stop = Stop.objects.filter(route__plan=dispatched).first()
    client = browser_client(dispatcher_a)
    client.get(page_url(stop.order))  # the session and caches warm
    # 32: the courier-partner section adds two (the order's hand-off, the partners that could take it);
    # 33: the road network checks once which learned travel model is active (another process may have
    # switched it), as it checks closures and traffic; 34: the fleet that could take it is read as planning
    # reads it, with each vehicle's reload hubs.
    with django_assert_max_num_queries(34) as queries:
        assert client.get(page_url(stop.order)).status_code == 200
    print(f"{len(queries)} queries")


def test_it_refuses_in_the_dispatchers_language(dispatcher_a, dispatched):
    from dispatch.models import UserPreference

    UserPreference.objects.create(user=dispatcher_a, language="de")
    stop = Stop.objects.filter(route__plan=dispatched).select_related("order", "route").first()
    response = browser_client(dispatcher_a).post(page_url(stop.order, "move"), {"vehicle": 999999})
    assert response.status_code == 400
    errors = response.context["move_form"].errors["vehicle"]
    assert errors == ["Fahrzeug 999999 hat an diesem Tag keine Tour des Depots dieses Auftrags."], errors
