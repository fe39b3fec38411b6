"""The dispatch dashboard's live socket, /ws/dispatch/ (API.md, Live).

Dispatchers and managers only. On connect it joins the group of every depot the user sees and sends
a snapshot; the client sends {"type": "snapshot"} to get one again (after a reconnect, or when a
seq gap shows it missed messages). Handler names match the message types of dispatch.live.broadcast.
Driver positions arrive one per message (driver.position) or in batches per depot (driver.positions,
dispatch.live.position_fanout); clients get driver.position frames unless they connect with
?positions=batched.
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from config import metrics
from dispatch.live import broadcast as live

# Close codes in the application range (4000-4999), mirroring HTTP: not logged in / not allowed.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class DispatchConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        depot_ids = await self._dashboard_depot_ids(user)
        if depot_ids is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.depot_ids = depot_ids
        # ?positions=batched: one driver.positions frame per depot and tick instead of one per driver.
        self.batched_positions = b"positions=batched" in self.scope.get("query_string", b"").split(b"&")
        self.live_groups = [live.depot_group(depot_id) for depot_id in depot_ids]
        for group in self.live_groups:
            await self.channel_layer.group_add(group, self.channel_name)
            metrics.websocket_opened(group)
        await self.accept()
        await self.send_json(await self._snapshot())

    async def disconnect(self, code):
        for group in getattr(self, "live_groups", []):
            await self.channel_layer.group_discard(group, self.channel_name)
            metrics.websocket_closed(group)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "snapshot":
            # Re-joining refreshes the group membership (channel layers expire it after group_expiry).
            for group in self.live_groups:
                await self.channel_layer.group_add(group, self.channel_name)
            await self.send_json(await self._snapshot())
        else:
            await self.send_json({"type": "error", "message": 'Unknown message; send {"type": "snapshot"}'})

    # Group messages: each already carries type, seq and the full state; pass it on as it is.
    async def driver_position(self, event):
        await self.send_json(event)

    async def driver_positions(self, event):
        # A batch from dispatch.live.position_fanout; its seqs are first_seq..seq, one per position.
        if self.batched_positions:
            await self.send_json(event)
            return
        for offset, state in enumerate(event["positions"]):
            await self.send_json({"type": "driver.position", "seq": event["first_seq"] + offset, **state})

    async def plan_updated(self, event):
        await self.send_json(event)

    async def stop_status(self, event):
        await self.send_json(event)

    async def alert(self, event):
        await self.send_json(event)

    async def route_etas(self, event):
        await self.send_json(event)

    async def closure(self, event):
        await self.send_json(event)

    @database_sync_to_async
    def _dashboard_depot_ids(self, user):
        return live.dashboard_depot_ids(user=user)

    @database_sync_to_async
    def _snapshot(self):
        return live.dispatch_snapshot(user=self.scope["user"], depot_ids=self.depot_ids)
