"""Live operations fixtures: each test gets its own channel-layer and cache key prefix, so tests in
the Redis mode never see another test's (or another engineer's concurrent run's) groups and seqs."""

import copy
import uuid
from datetime import timedelta

import pytest
from channels.layers import channel_layers
from django.utils import timezone
from rest_framework.authtoken.models import Token

ORIGIN = (b"origin", b"http://testserver")


@pytest.fixture(autouse=True)
def isolated_live_state(settings):
    suffix = uuid.uuid4().hex[:10]
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    if "CONFIG" in layers["default"]:
        layers["default"]["CONFIG"]["prefix"] = f"test-live-{suffix}"
    settings.CHANNEL_LAYERS = layers
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-live-{suffix}"}}
    channel_layers.backends = {}
    yield
    channel_layers.backends = {}


@pytest.fixture
def driver_b(vehicle_b):
    from dispatch.fleet.services import driver_create
    from tests.conftest import PASSWORD

    return driver_create(username="driver_b", password=PASSWORD, name="Bert Driver", vehicle=vehicle_b)


def token_header(user) -> tuple[bytes, bytes]:
    token, _ = Token.objects.get_or_create(user=user)
    return (b"authorization", f"Token {token.key}".encode())


def position(seconds_ago: float = 0, **overrides) -> dict:
    recorded_at = timezone.now() - timedelta(seconds=seconds_ago)
    return {"lat": 47.14, "lon": 9.52, "recorded_at": recorded_at.isoformat(), **overrides}
