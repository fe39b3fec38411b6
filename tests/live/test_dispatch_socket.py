"""/ws/dispatch/: who may connect, what each dashboard receives, snapshots, coalesced positions.

Every test drives the whole ASGI stack (origin check, session/token auth, URL router) with
WebsocketCommunicator; services run for real and their on_commit events reach the channel layer
(in-memory in the embedded mode, channels_redis when REDIS_URL is set).
"""

import asyncio
import time
from datetime import date

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework.test import APIClient

from config.asgi import application
from dispatch import events
from dispatch.live import broadcast
from dispatch.models import Alert, Order
from dispatch.orders.services import order_change_status
from tests.live.conftest import ORIGIN, position, token_header

pytestmark = pytest.mark.django_db(transaction=True)
POSITIONS_URL = "/api/driver/positions/"
TIMEOUT = 5


def run(scenario):
    return async_to_sync(scenario)()


async def connected(*headers, path="/ws/dispatch/"):
    communicator = WebsocketCommunicator(application, path, headers=list(headers))
    accepted, _ = await communicator.connect(timeout=TIMEOUT)
    assert accepted
    snapshot = await communicator.receive_json_from(timeout=TIMEOUT)
    assert snapshot["type"] == "snapshot"
    return communicator, snapshot


async def refused(*headers):
    communicator = WebsocketCommunicator(application, "/ws/dispatch/", headers=list(headers))
    accepted, code = await communicator.connect(timeout=TIMEOUT)
    await communicator.disconnect()
    return not accepted


async def next_of(communicator, kind, timeout=TIMEOUT):
    # Skip other kinds (a test may cause several); give up after `timeout` seconds.
    deadline = time.monotonic() + timeout
    while True:
        message = await communicator.receive_json_from(timeout=max(0.05, deadline - time.monotonic()))
        if message["type"] == kind:
            return message


@database_sync_to_async
def post_positions(driver, batch):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=dict([token_header(driver.user)])[b"authorization"].decode())
    response = client.post(POSITIONS_URL, {"positions": batch}, format="json")
    assert response.status_code == 202, response.content
    return response


def test_it_refuses_anonymous_drivers_and_a_foreign_origin(dispatcher_a, driver_a):
    auth_dispatcher_a = token_header(dispatcher_a)
    auth_driver_a = token_header(driver_a.user)

    async def scenario():
        assert await refused(ORIGIN)
        assert await refused(ORIGIN, auth_driver_a)
        assert await refused(ORIGIN, (b"authorization", b"Token not-a-real-token"))
        assert await refused((b"origin", b"http://evil.example"), auth_dispatcher_a)
        assert await refused(auth_dispatcher_a)  # no Origin at all

    run(scenario)


def test_it_accepts_the_session_cookie(dispatcher_a, client):
    client.force_login(dispatcher_a)
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    depot_ids = [dispatcher_a.dispatch_depots.get().id]

    async def scenario():
        communicator, snapshot = await connected(ORIGIN, cookie)
        assert snapshot["depots"] == depot_ids
        await communicator.disconnect()

    run(scenario)


def test_it_sends_positions_to_the_drivers_depot_only(dispatcher_a, dispatcher_b, manager, driver_a, depot_a):
    auth_dispatcher_a = token_header(dispatcher_a)
    auth_dispatcher_b = token_header(dispatcher_b)
    auth_manager = token_header(manager)

    async def scenario():
        own, snapshot = await connected(ORIGIN, auth_dispatcher_a)
        other, _ = await connected(ORIGIN, auth_dispatcher_b)
        boss, _ = await connected(ORIGIN, auth_manager)
        assert snapshot["depots"] == [depot_a.id]
        await post_positions(driver_a, [position(1, lat=47.151, heading=45, speed_mps=3.5)])
        message = await next_of(own, "driver.position")
        assert message["driver"] == driver_a.id and message["vehicle"] == driver_a.vehicle_id
        assert (message["lat"], message["lon"], message["heading"], message["speed_mps"]) == (47.151, 9.52, 45, 3.5)
        assert message["seq"] >= 1 and message["recorded_at"]
        assert (await next_of(boss, "driver.position"))["driver"] == driver_a.id
        assert await other.receive_nothing(timeout=0.5)
        for communicator in (own, other, boss):
            await communicator.disconnect()

    run(scenario)


def test_it_coalesces_positions_and_still_delivers_the_last_one(dispatcher_a, driver_a, monkeypatch):
    auth_dispatcher_a = token_header(dispatcher_a)
    # A window of 5 s instead of 1 s: the three posts land in one window on any machine (a busy CI
    # machine can take over a second for them, and a second window would send one more).
    monkeypatch.setattr(broadcast, "POSITION_WINDOW_S", 5)

    async def scenario():
        dashboard, _ = await connected(ORIGIN, auth_dispatcher_a)
        # Measured from before the first post, not from receiving the first broadcast: the trailing
        # send is due a whole window after the second post, however long the first took to reach us.
        posted_at = time.monotonic()
        await post_positions(driver_a, [position(2, lat=47.101)])
        await post_positions(driver_a, [position(1, lat=47.102)])
        await post_positions(driver_a, [position(0, lat=47.103)])
        assert time.monotonic() - posted_at < 4.5, "the posts took most of the window: nothing to check"
        first = await next_of(dashboard, "driver.position")
        assert first["lat"] == 47.101
        trailing = await next_of(dashboard, "driver.position", timeout=10)
        # Not inside the window: at most one position per driver per window reaches the dashboards.
        assert time.monotonic() - posted_at >= 4.75
        assert trailing["lat"] == 47.103 and trailing["seq"] > first["seq"]
        assert await dashboard.receive_nothing(timeout=1.5)
        await dashboard.disconnect()

    run(scenario)


def test_it_sends_an_old_offline_batch_to_nobody(dispatcher_a, driver_a):
    auth_dispatcher_a = token_header(dispatcher_a)

    async def scenario():
        dashboard, _ = await connected(ORIGIN, auth_dispatcher_a)
        await post_positions(driver_a, [position(1, lat=47.2)])
        assert (await next_of(dashboard, "driver.position"))["lat"] == 47.2
        await asyncio.sleep(1.1)  # past the window: the old batch would be broadcast if it moved the driver
        await post_positions(driver_a, [position(300, lat=47.0), position(200, lat=47.0)])
        assert await dashboard.receive_nothing(timeout=1.5)
        await dashboard.disconnect()

    run(scenario)


def test_it_sends_a_snapshot_on_connect_and_on_request(dispatcher_a, driver_a, driver_b, depot_a):
    auth_dispatcher_a = token_header(dispatcher_a)
    Alert.objects.create(depot=depot_a, kind="idle", message="Dana has not moved", driver=driver_a, dedup_key="i:1")
    Alert.objects.create(depot=driver_b.depot, kind="idle", message="Bert has not moved", dedup_key="i:2")

    async def scenario():
        dashboard, snapshot = await connected(ORIGIN, auth_dispatcher_a)
        assert snapshot["drivers"] == [] and snapshot["plans"] == []
        assert [alert["message"] for alert in snapshot["alerts"]] == ["Dana has not moved"]
        await post_positions(driver_a, [position(1, lat=47.16)])
        await post_positions(driver_b, [position(1, lat=47.21)])
        seen = await next_of(dashboard, "driver.position")
        await dashboard.send_json_to({"type": "snapshot"})
        again = await next_of(dashboard, "snapshot")
        assert [(d["driver"], d["lat"], d["driver_name"]) for d in again["drivers"]] == [
            (driver_a.id, 47.16, "Dana Driver")
        ]
        assert again["seq"][f"depot.{depot_a.id}"] >= seen["seq"]
        await dashboard.send_json_to({"type": "nonsense"})
        assert (await dashboard.receive_json_from(timeout=TIMEOUT))["type"] == "error"
        await dashboard.disconnect()

    run(scenario)


def test_it_sends_stop_status_after_a_status_change(dispatcher_a, dispatcher_b, depot_a):
    auth_dispatcher_a = token_header(dispatcher_a)
    auth_dispatcher_b = token_header(dispatcher_b)
    order = Order.objects.create(reference="LIVE-1", date=date.today(), depot=depot_a, lat=47.14, lon=9.52)

    async def scenario():
        own, _ = await connected(ORIGIN, auth_dispatcher_a)
        other, _ = await connected(ORIGIN, auth_dispatcher_b)
        await database_sync_to_async(order_change_status)(order=order, to_status=Order.Status.PLANNED)
        message = await next_of(own, "stop.status")
        assert (message["order"], message["status"], message["reference"]) == (order.id, "planned", "LIVE-1")
        assert message["from_status"] == "new"
        assert await other.receive_nothing(timeout=0.5)
        await own.disconnect()
        await other.disconnect()

    run(scenario)


def test_it_numbers_each_groups_messages(dispatcher_a, depot_a):
    auth_dispatcher_a = token_header(dispatcher_a)
    orders = [
        Order.objects.create(reference=f"SEQ-{i}", date=date.today(), depot=depot_a, lat=47.14, lon=9.52)
        for i in range(3)
    ]

    async def scenario():
        dashboard, _ = await connected(ORIGIN, auth_dispatcher_a)
        for order in orders:
            await database_sync_to_async(order_change_status)(order=order, to_status=Order.Status.PLANNED)
        seqs = [(await next_of(dashboard, "stop.status"))["seq"] for _ in orders]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3 and seqs[-1] - seqs[0] == 2
        await dashboard.disconnect()

    run(scenario)


def test_it_sends_plan_updates_to_the_plans_depot(dispatcher_a, dispatcher_b, depot_a):
    auth_dispatcher_a = token_header(dispatcher_a)
    auth_dispatcher_b = token_header(dispatcher_b)
    from routes.models import Plan

    plan = Plan.objects.create(
        date=timezone.localdate(), depot=depot_a, version=2, status=Plan.Status.DONE, dispatched_at=timezone.now()
    )

    async def scenario():
        own, snapshot = await connected(ORIGIN, auth_dispatcher_a)
        assert [(p["plan"], p["version"]) for p in snapshot["plans"]] == [(plan.id, 2)]
        other, _ = await connected(ORIGIN, auth_dispatcher_b)
        changes = {"moved": [1], "added": [], "removed": [], "eta_changes": {7: 120}}
        await database_sync_to_async(events.plan_updated)(
            plan_id=plan.id, previous_plan_id=None, reason="closure", changes=changes
        )
        message = await next_of(own, "plan.updated")
        assert (message["plan"], message["version"], message["reason"]) == (plan.id, 2, "closure")
        assert message["changes"]["eta_changes"] == {"7": 120}
        await database_sync_to_async(events.plan_dispatched)(plan_id=plan.id, previous_plan_id=None, reason="")
        assert (await next_of(own, "plan.updated"))["plan"] == plan.id
        assert await other.receive_nothing(timeout=0.5)
        await own.disconnect()
        await other.disconnect()

    run(scenario)


def test_it_publishes_alerts_to_the_depot(dispatcher_a, depot_a, driver_a):
    auth_dispatcher_a = token_header(dispatcher_a)
    from dispatch.live import broadcast as live

    alert = Alert.objects.create(depot=depot_a, kind="idle", message="Dana idle", driver=driver_a, dedup_key="i:9")

    async def scenario():
        dashboard, _ = await connected(ORIGIN, auth_dispatcher_a)
        await database_sync_to_async(live.alert_broadcast)(alert=alert)
        message = await next_of(dashboard, "alert")
        assert (message["kind"], message["message"], message["driver"]) == ("idle", "Dana idle", driver_a.id)
        await dashboard.disconnect()

    run(scenario)


def test_trailing_broadcasts_not_yet_sent_are_forgotten_with_their_marks(monkeypatch):
    # What the suite does between tests (tests/conftest.py): a deferred send of one test never runs
    # in the next, and the next position of that driver schedules a send of its own again.
    sent = []
    monkeypatch.setattr(broadcast, "_send_trailing_position", lambda driver_id, loop=None: sent.append(driver_id))
    monkeypatch.setattr(broadcast, "POSITION_WINDOW_S", 0.1)
    broadcast._schedule_trailing_position_on(987654, None)
    assert broadcast._counters().add(broadcast._trailing_key(987654), 60) is False  # marked: one send pending
    broadcast.trailing_positions_cancel()
    assert broadcast._counters().add(broadcast._trailing_key(987654), 60) is True  # the mark went too
    broadcast._counters().delete(broadcast._trailing_key(987654))
    time.sleep(0.5)  # well past the window: a send still queued would have run
    assert sent == []
