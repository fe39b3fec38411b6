"""GET /healthz checks the database, the channel layer and the broker for real, and names what is down.

Failures are real ones: a database connection to a port nobody listens on, a channels_redis layer
and a Redis broker URL on a closed port. Nothing of ours is mocked.
"""

import socket
import time

import pytest
from django.db import connections
from django.db.utils import ConnectionHandler


def _closed_port() -> int:
    # Bind, then close: for the test's short life nothing listens there.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def closed_port():
    return _closed_port()


def _get(client):
    started = time.monotonic()
    response = client.get("/healthz")
    return response, time.monotonic() - started


@pytest.mark.django_db
def test_it_reports_every_part_ok(client):
    response, _ = _get(client)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


@pytest.mark.django_db
def test_it_answers_only_get(client):
    assert client.post("/healthz").status_code == 405


@pytest.fixture
def unreachable_database(closed_port):
    """Swap the default connection for a real PostgreSQL connection to a closed port, then restore it."""
    handler = ConnectionHandler(
        {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "dispatch",
                "USER": "postgres",
                "HOST": "127.0.0.1",
                "PORT": str(closed_port),
                "OPTIONS": {"connect_timeout": 2},
            }
        }
    )
    original = connections["default"]
    connections["default"] = handler["default"]
    try:
        yield
    finally:
        handler["default"].close()
        connections["default"] = original


@pytest.mark.django_db
def test_it_names_the_database_when_it_is_unreachable(client, unreachable_database):
    response, elapsed = _get(client)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"].startswith("error: ") and "OperationalError" in body["database"]
    assert (body["channel_layer"], body["broker"]) == ("ok", "ok")
    assert body["failing"] == ["database"]
    assert elapsed < 5


@pytest.mark.django_db
def test_it_names_the_channel_layer_when_redis_is_down(client, settings, closed_port):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{closed_port}/0"]},
        }
    }
    response, elapsed = _get(client)
    assert response.status_code == 503
    body = response.json()
    assert body["channel_layer"].startswith("error: ")
    assert body["failing"] == ["channel_layer"]
    assert body["database"] == "ok"
    assert elapsed < 5


@pytest.mark.django_db
def test_it_names_the_broker_when_redis_is_down(client, settings, closed_port):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    response, elapsed = _get(client)
    assert response.status_code == 503
    body = response.json()
    assert body["broker"].startswith("error: ") and "ConnectionError" in body["broker"]
    assert body["failing"] == ["broker"]
    assert (body["database"], body["channel_layer"]) == ("ok", "ok")
    assert elapsed < 5


@pytest.mark.django_db
def test_it_names_every_failing_part_at_once(client, settings, closed_port, unreachable_database):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{closed_port}/0"]},
        }
    }
    response, _ = _get(client)
    assert response.status_code == 503
    assert response.json()["failing"] == ["database", "channel_layer", "broker"]


def test_it_is_exempt_from_the_https_redirect(settings, client):
    # Load balancers probe over plain HTTP; a redirect would read as "down".
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code in (200, 503)
    assert client.get("/api/orders/").status_code == 301
