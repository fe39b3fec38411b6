"""GET /healthz: each dependency checked for real, with a short timeout, and named when down.

GET /healthz?detail=1 adds where background work stands ("queues": per kind of work, its queue, how
many tasks wait, the age of the oldest in seconds, how many were coalesced or dropped): for staff
users (the admin site's) and for monitoring with "Authorization: Bearer <HEALTHZ_TOKEN>". Anyone
else asking for it gets 403; the plain check stays public, for load balancers.
"""

import asyncio
import logging
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.access import staff_or_bearer
from config.tasks import queue_stats

CHECK_TIMEOUT_S = 2.0
logger = logging.getLogger(__name__)


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "down", and we say which
        return f"error: {type(exc).__name__}"


async def _channel_layer_round_trip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("healthz.")
    marker = uuid.uuid4().hex
    await layer.send(channel, {"type": "healthz", "marker": marker})
    message = await layer.receive(channel)
    if message.get("marker") != marker:
        raise RuntimeError("channel layer returned another message")


def check_channel_layer() -> str:
    async def run():
        await asyncio.wait_for(_channel_layer_round_trip(), CHECK_TIMEOUT_S)

    try:
        async_to_sync(run)()
        return "ok"
    except Exception as exc:  # noqa: BLE001
        return f"error: {type(exc).__name__}"


def check_broker() -> str:
    if not settings.REDIS_URL:
        return "ok"  # embedded mode: tasks run in-process, there is no broker to lose
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S
        )
        client.ping()
        client.close()
        return "ok"
    except Exception as exc:  # noqa: BLE001
        return f"error: {type(exc).__name__}"


def may_see_detail(request) -> bool:
    return staff_or_bearer(request, settings.HEALTHZ_TOKEN)


def queues_detail() -> dict:
    try:
        return queue_stats()
    except Exception as exc:  # noqa: BLE001 - the broker's own check above names the outage
        logger.warning("could not read the queues", exc_info=True)
        return {"error": type(exc).__name__}


@never_cache
@require_GET
def healthz(request):
    detail = request.GET.get("detail") not in (None, "", "0")
    if detail and not may_see_detail(request):
        return JsonResponse({"detail": "The detailed view is for staff users or the monitoring token."}, status=403)
    parts = {"database": check_database(), "channel_layer": check_channel_layer(), "broker": check_broker()}
    healthy = all(value == "ok" for value in parts.values())
    body = {"status": "ok" if healthy else "error", **parts}
    if not healthy:
        body["failing"] = [name for name, value in parts.items() if value != "ok"]
    if detail:
        body["queues"] = queues_detail()
    return JsonResponse(body, status=200 if healthy else 503)
