"""The live map survives a Redis outage in a real browser: the socket drops, the page says so and
retries with backoff, and once Redis is back it reconnects, reloads a snapshot and moves vehicles
again (issue 9: "live clients reconnect when it returns").

The server is daphne in production mode (DEBUG=0) against the test database and a private
redis-server that the test kills and restarts; the machine's Redis is never touched.
"""

import json
import os
import subprocess
import sys
import urllib.request

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from tests.browser.conftest import wait_for_js
from tests.hardening.test_faults import (
    ROOT,
    SERVER_SECRET_KEY,
    Server,
    end,
    free_port,
    servers_database_url,
    start_redis,
)
from tests.live_map.conftest import dispatched_route  # noqa: F401 - the fixture for this test

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def collected_static(tmp_path_factory):
    root = tmp_path_factory.mktemp("static")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT, check=True,
        # As the server runs (DEBUG=0): hashed names and the manifest the templates look them up in.
        env={**os.environ, "STATIC_ROOT": str(root), "DEBUG": "0", "SECRET_KEY": SERVER_SECRET_KEY,
             "ALLOWED_HOSTS": "127.0.0.1"},
    )  # fmt: skip
    return root


def _post_position(server, token, lat, lon):
    body = {"positions": [{"lat": lat, "lon": lon, "recorded_at": timezone.now().isoformat()}]}
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/api/driver/positions/", data=json.dumps(body).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own server
        return response.status


def _marker_lat(driver_id) -> str:
    return f"(document.querySelector(\".vehicle-icon[data-driver='{driver_id}']\") || {{dataset: {{}}}}).dataset.lat"


def test_the_live_map_reconnects_and_catches_up_after_redis_comes_back(
    browser,
    settings,
    tmp_path,
    collected_static,
    dispatched_route,  # noqa: F811 - the fixture imported above
    dispatcher_a,
    driver_a,
    screenshot,
):
    if connection.vendor != "postgresql":
        pytest.skip("daphne runs in another process against the test database: the browser run uses PostgreSQL")
    settings.SECRET_KEY = SERVER_SECRET_KEY  # the session below must be valid on the server
    session = Client()
    session.force_login(dispatcher_a)
    driver_token = Token.objects.get_or_create(user=driver_a.user)[0].key
    (lon_1, lat_1), (lon_2, lat_2) = (
        dispatched_route.geometry["coordinates"][5],
        dispatched_route.geometry["coordinates"][40],
    )

    redis_port = free_port()
    redis = start_redis(redis_port, tmp_path)
    server = Server(
        tmp_path, DATABASE_URL=servers_database_url(), REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        STATIC_ROOT=str(collected_static),
    )  # fmt: skip
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        context.add_cookies(
            [{"name": django_settings.SESSION_COOKIE_NAME, "value": session.cookies[django_settings.SESSION_COOKIE_NAME].value,
              "url": f"http://127.0.0.1:{server.port}"}]
        )  # fmt: skip
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"http://127.0.0.1:{server.port}/live/")
        page.wait_for_selector("#live-connection[data-state=live]", timeout=30_000)
        assert _post_position(server, driver_token, lat_1, lon_1) == 202
        wait_for_js(page, f"{_marker_lat(driver_a.pk)} === '{lat_1:.6f}'", timeout_ms=15_000)

        # Redis goes away: the socket drops and the page says it is retrying.
        redis.kill()
        redis.wait()
        page.wait_for_selector("#live-connection[data-state=reconnecting]", timeout=30_000)
        screenshot(page, "live-map-redis-down")
        # The driver keeps driving meanwhile; the position is stored though nobody can be told.
        assert _post_position(server, driver_token, lat_2, lon_2) == 202

        # Redis is back: the page reconnects by itself and its snapshot brings the van to where it is.
        redis = start_redis(redis_port, tmp_path)
        page.wait_for_selector("#live-connection[data-state=live]", timeout=60_000)
        wait_for_js(page, f"{_marker_lat(driver_a.pk)} === '{lat_2:.6f}'", timeout_ms=15_000)
        # And live messages flow again.
        assert _post_position(server, driver_token, lat_1, lon_1) == 202
        wait_for_js(page, f"{_marker_lat(driver_a.pk)} === '{lat_1:.6f}'", timeout_ms=15_000)
        screenshot(page, "live-map-redis-back")
        assert errors == []
    finally:
        context.close()
        server.stop()
        end(redis)
