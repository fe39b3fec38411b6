"""Our scripts are ES modules that import static/js/lib/ by relative path. As the server runs in
production (DEBUG=0: WhiteNoise serves the hashed copies collectstatic made), every import must
reach the hashed copy of the module it names (config/static_storage.py rewrites the imports), in the
pages and in their map documents (iframe srcdoc), with no script error.
"""

import re

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client

from tests.browser.conftest import wait_for_js
from tests.browser.test_live_reconnect import collected_static  # noqa: F401 - the fixture for this test
from tests.hardening.test_faults import SERVER_SECRET_KEY, Server, servers_database_url
from tests.live_map.conftest import dispatched_route  # noqa: F401 - the fixture for this test

pytestmark = pytest.mark.django_db(transaction=True)

HASHED = re.compile(r"\.[0-9a-f]{12}\.js$")


def test_the_pages_and_their_maps_load_hashed_modules_without_errors(
    browser,
    settings,
    tmp_path,
    collected_static,  # noqa: F811 - the fixture imported above
    dispatched_route,  # noqa: F811 - the fixture imported above
    dispatcher_a,
):
    if connection.vendor != "postgresql":
        pytest.skip("daphne runs in another process against the test database: the browser run uses PostgreSQL")
    settings.SECRET_KEY = SERVER_SECRET_KEY  # the session below must be valid on the server
    session = Client()
    session.force_login(dispatcher_a)
    server = Server(tmp_path, DATABASE_URL=servers_database_url(), STATIC_ROOT=str(collected_static))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        base = f"http://127.0.0.1:{server.port}"
        context.add_cookies(
            [{"name": django_settings.SESSION_COOKIE_NAME, "value": session.cookies[django_settings.SESSION_COOKIE_NAME].value,
              "url": base}]
        )  # fmt: skip
        page = context.new_page()
        errors, scripts = [], []
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "response", lambda response: response.status >= 400 and errors.append(f"{response.status} {response.url}")
        )
        page.on("request", lambda request: request.resource_type == "script" and scripts.append(request.url))

        for path, layer in (
            (f"/plans/{dispatched_route.plan_id}/", "routes"),
            ("/closures/", "closures"),
            ("/", "orders"),
        ):
            page.goto(f"{base}{path}")
            frame = page.frame_locator(".map-frame").owner.element_handle().content_frame()
            wait_for_js(frame, f"window.DispatchMap && DispatchMap.layers.{layer} !== undefined")
            assert errors == [], path

        ours = [url for url in scripts if "/static/js/" in url]
        assert any("/static/js/lib/map_layers." in url for url in ours), ours
        assert any("/static/js/lib/i18n." in url for url in ours), ours
        unhashed = [url for url in ours if not HASHED.search(url.split("?")[0])]
        assert unhashed == [], "modules loaded under their unhashed names"
    finally:
        context.close()
        server.stop()
