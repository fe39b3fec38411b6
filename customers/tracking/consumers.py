"""/ws/track/<token>/: the live side of a customer's tracking page.

The token is the credential (customers never log in): an unknown, expired or revoked token is
refused before the handshake completes, exactly as the page answers 404. The consumer joins the
order's group "order.<id>" (dispatch.live.broadcast publishes there) and passes on only what the customer
may see: the driver's position only while this order is the next stop, and otherwise the full
tracking state, re-read on each change. Messages carry `type` and `seq` (numbered per connection,
0 = the snapshot sent on connect), so a client that missed one recovers from the next.
"""

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from config import metrics
from customers import selectors
from customers.rate_limits import hit
from customers.tracking_tokens import digest_for_token


class TrackingConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.token = self.scope["url_route"]["kwargs"]["token"]
        self.seq = -1
        self.order_id = await self._order_id()
        if self.order_id is None:
            await self.close(code=4404)
            return
        self.group = f"order.{self.order_id}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        metrics.websocket_opened("order")  # one label for all orders: per-order labels would grow without bound
        await self.accept()
        await self._send_state()

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            metrics.websocket_closed("order")

    async def receive_json(self, content, **kwargs):
        # The only thing a client asks for is a fresh snapshot (after it suspects it missed something).
        if isinstance(content, dict) and content.get("type") == "snapshot":
            await self._send_state()

    async def dispatch(self, message):
        # Messages of kinds this consumer has no handler for (dispatch.live.broadcast may add some) refresh the state.
        handler_name = message["type"].replace(".", "_")
        if not message["type"].startswith("websocket.") and not hasattr(self, handler_name):
            await self._send_state()
            return
        await super().dispatch(message)

    async def driver_position(self, event):
        if self.show_position and event.get("lat") is not None:
            await self._send(
                {
                    "type": "driver.position",
                    "lat": event["lat"],
                    "lon": event["lon"],
                    "recorded_at": event.get("recorded_at"),
                }
            )

    async def stop_status(self, event):
        await self._send_state()

    async def plan_updated(self, event):
        await self._send_state()

    async def tracking_refresh(self, event):
        # The promise moved or the order left the routes (customers.notifications.promises): the page re-reads.
        await self._send_state()

    async def alert(self, event):
        pass  # alerts are for dispatchers

    @classmethod
    async def encode_json(cls, content):
        return json.dumps(content, cls=DjangoJSONEncoder)

    async def _send(self, content):
        self.seq += 1
        await self.send_json({**content, "seq": self.seq})

    async def _send_state(self):
        state = await self._state()
        if state is None:  # revoked or expired while open
            await self.close(code=4404)
            return
        self.show_position = state["driver_position"] is not None
        await self._send({"type": "tracking.state", "state": state})

    @database_sync_to_async
    def _order_id(self):
        allowed, _ = hit(
            f"token:{digest_for_token(self.token)[:32]}", limit=settings.TRACKING_RATE_PER_TOKEN, window_s=60
        )
        if not allowed:
            return None
        link = selectors.tracking_link_for_token(self.token)
        return link.order_id if link else None

    @database_sync_to_async
    def _state(self):
        link = selectors.tracking_link_for_token(self.token)
        if link is None or link.order_id != self.order_id:
            return None
        return selectors.tracking_state(link.order)
