"""/ws/track/<token>/ through the whole ASGI stack (origin check, router) with WebsocketCommunicator."""

import secrets

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from config.asgi import application
from customers.tracking_links import tracking_link_reissue
from dispatch.models import Order
from tests.customers.conftest import token_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.clock]
ORIGIN = (b"origin", b"http://testserver")
TIMEOUT = 5


def run(scenario):
    return async_to_sync(scenario)()


async def refused(path, *headers) -> bool:
    communicator = WebsocketCommunicator(application, path, headers=list(headers))
    accepted, _code = await communicator.connect(timeout=TIMEOUT)
    await communicator.disconnect()
    return not accepted


def test_it_refuses_unknown_and_revoked_tokens_and_a_foreign_origin(day_route):
    order = day_route["orders"][0]
    token = token_of(order)
    tracking_link_reissue(order=day_route["orders"][1])
    revoked = token_of(day_route["orders"][1])
    tracking_link_reissue(order=day_route["orders"][1])

    async def scenario():
        assert await refused(f"/ws/track/{secrets.token_urlsafe(20)}/", ORIGIN)  # anonymous guesser
        assert await refused(f"/ws/track/{revoked}/", ORIGIN)
        assert await refused(f"/ws/track/{token}/", (b"origin", b"https://evil.example"))
        assert not await refused(f"/ws/track/{token}/", ORIGIN)

    run(scenario)


def test_it_sends_a_snapshot_then_state_on_status_changes_and_positions_only_for_the_next_stop(day_route):
    first, second, _ = day_route["orders"]
    driver = day_route["driver"]
    driver.last_lat, driver.last_lon, driver.last_position_at = 47.15, 9.52, timezone.now()
    driver.save()
    layer = get_channel_layer()
    near_token, far_token = token_of(first), token_of(second)

    @database_sync_to_async
    def deliver_first():
        Order.objects.filter(pk=first.pk).update(status=Order.Status.DELIVERED)

    async def scenario():
        near = WebsocketCommunicator(application, f"/ws/track/{near_token}/", headers=[ORIGIN])
        far = WebsocketCommunicator(application, f"/ws/track/{far_token}/", headers=[ORIGIN])
        assert (await near.connect(timeout=TIMEOUT))[0] and (await far.connect(timeout=TIMEOUT))[0]
        snapshot = await near.receive_json_from(timeout=TIMEOUT)
        assert snapshot["type"] == "tracking.state" and snapshot["seq"] == 0
        assert snapshot["state"]["driver_position"]["lat"] == 47.15
        far_snapshot = await far.receive_json_from(timeout=TIMEOUT)
        assert far_snapshot["state"]["driver_position"] is None

        position = {"type": "driver.position", "seq": 7, "driver": driver.pk, "lat": 47.16, "lon": 9.53}
        await layer.group_send(f"order.{first.pk}", position)
        await layer.group_send(f"order.{second.pk}", position)
        moved = await near.receive_json_from(timeout=TIMEOUT)
        assert (moved["type"], moved["lat"], moved["seq"]) == ("driver.position", 47.16, 1)
        assert await far.receive_nothing(timeout=0.3)  # not the next stop: no position

        # The first stop is delivered: the second becomes next and its page learns so.
        await deliver_first()
        await layer.group_send(f"order.{second.pk}", {"type": "stop.status", "seq": 8, "order": first.pk})
        state = await far.receive_json_from(timeout=TIMEOUT)
        assert state["type"] == "tracking.state" and state["state"]["is_next_stop"] is True
        assert state["state"]["driver_position"] is not None
        # A kind of message this consumer does not know refreshes the state instead of failing.
        await layer.group_send(f"order.{second.pk}", {"type": "eta.changed", "seq": 9})
        assert (await far.receive_json_from(timeout=TIMEOUT))["type"] == "tracking.state"
        await near.disconnect()
        await far.disconnect()

    run(scenario)


def test_it_closes_the_socket_when_the_link_is_revoked_while_open(day_route):
    order = day_route["orders"][0]
    token = token_of(order)

    async def scenario():
        communicator = WebsocketCommunicator(application, f"/ws/track/{token}/", headers=[ORIGIN])
        assert (await communicator.connect(timeout=TIMEOUT))[0]
        await communicator.receive_json_from(timeout=TIMEOUT)
        await database_sync_to_async(tracking_link_reissue)(order=order)
        await get_channel_layer().group_send(f"order.{order.pk}", {"type": "stop.status", "seq": 1})
        closed = await communicator.receive_output(timeout=TIMEOUT)
        assert closed["type"] == "websocket.close" and closed["code"] == 4404

    run(scenario)


def test_it_passes_the_drivers_moves_to_the_next_stops_socket_only(day_route):
    from customers.handlers import on_driver_moved

    first, second, _ = day_route["orders"]
    driver = day_route["driver"]
    driver.last_lat, driver.last_lon, driver.last_position_at = 47.15, 9.52, timezone.now()
    driver.save()
    near_token, far_token = token_of(first), token_of(second)

    async def scenario():
        near = WebsocketCommunicator(application, f"/ws/track/{near_token}/", headers=[ORIGIN])
        far = WebsocketCommunicator(application, f"/ws/track/{far_token}/", headers=[ORIGIN])
        assert (await near.connect(timeout=TIMEOUT))[0] and (await far.connect(timeout=TIMEOUT))[0]
        await near.receive_json_from(timeout=TIMEOUT)
        await far.receive_json_from(timeout=TIMEOUT)
        await database_sync_to_async(on_driver_moved)(
            driver_id=driver.pk, vehicle_id=None, depot_id=first.depot_id, lat=47.17, lon=9.54,
            recorded_at=timezone.now(),
        )  # fmt: skip
        moved = await near.receive_json_from(timeout=TIMEOUT)
        assert (moved["type"], moved["lat"], moved["lon"]) == ("driver.position", 47.17, 9.54)
        assert await far.receive_nothing(timeout=0.3)
        await near.disconnect()
        await far.disconnect()

    run(scenario)
