"""The partner's courier on the customer's live tracking socket (/ws/track/<token>/), through the whole
ASGI stack: the same messages as for our driver, and only while the partner shares its position."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from config.asgi import application
from dispatch.partners import services
from tests.customers.conftest import token_of
from tests.partners.conftest import new_order

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.clock]
ORIGIN = (b"origin", b"http://testserver")
TIMEOUT = 5


def test_the_tracking_socket_shows_the_partner_courier_approaching(partner, depot_a, dispatcher_a):
    order = new_order(depot_a, "SOCK-1", timezone.localdate())
    services.order_hand_off(order=order, partner=partner, by=dispatcher_a)
    partner.shares_position = True
    partner.save()
    token = token_of(order)
    now = timezone.now()

    @database_sync_to_async
    def courier_at(lat, seconds_ago):
        at = now - timedelta(seconds=seconds_ago)
        services.partner_positions_record(
            partner=partner, order_id=order.pk, positions=[{"lat": lat, "lon": 9.52, "recorded_at": at}]
        )

    async def scenario():
        socket = WebsocketCommunicator(application, f"/ws/track/{token}/", headers=[ORIGIN])
        assert (await socket.connect(timeout=TIMEOUT))[0]
        snapshot = await socket.receive_json_from(timeout=TIMEOUT)
        assert snapshot["type"] == "tracking.state" and snapshot["state"]["driver_position"] is None
        # The first position: the page re-reads its state, which now shows the courier.
        await courier_at(47.15, 30)
        state = await socket.receive_json_from(timeout=TIMEOUT)
        assert state["type"] == "tracking.state" and state["state"]["driver_position"]["lat"] == 47.15
        assert state["state"]["driver_name"] == ""  # one company: no partner's courier named
        # The next ones move the marker, as our driver's do.
        await courier_at(47.16, 10)
        moved = await socket.receive_json_from(timeout=TIMEOUT)
        assert (moved["type"], moved["lat"]) == ("driver.position", 47.16)
        await socket.disconnect()

    async_to_sync(scenario)()
