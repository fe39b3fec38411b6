"""The lean intake of POST /api/driver/positions/ (dispatch.live.position_intake) through the ASGI app.

On PostgreSQL with Redis, and on SQLite (the embedded mode: a writer thread of its own, the
in-memory channel layer), it answers batches from a driver's token or session itself; everything
else falls through to the Django view. Every test runs in both modes. Each test posts over ASGI exactly as daphne would hand a request over,
then checks what the database holds and what a dashboard socket received. The same requests are
also answered by the view alone (the intake switched off), and both answers must be the same.
"""

import asyncio
import json
import re
import sqlite3
import time
from datetime import datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.signals import request_started
from django.db import connection
from django.test import Client
from django.utils import timezone

from config.asgi import application, django_asgi_app
from dispatch import events
from dispatch.live import position_intake
from dispatch.live.position_intake import PositionIntakeMiddleware
from dispatch.models import Driver, DriverPosition
from tests.live.conftest import ORIGIN, position, token_header

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/driver/positions/"
TIMEOUT = 5
intake_on = pytest.mark.skipif(not position_intake.intake_enabled(), reason="POSITION_INTAKE=0: the view answers all")
with_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="about Redis (the production mode)")
view_only_app = PositionIntakeMiddleware(django_asgi_app)
view_only_app.enabled = False


@pytest.fixture(autouse=True)
def _no_connections_left_behind():
    """The view runs on the event loop's worker threads, whose connections outlive the request (as in
    daphne); this test's loop is gone at its end, so end their database sessions too."""
    yield
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        # Those threads never hand their connections back to the pool: start the next test with a
        # new pool, or a dozen requests later it has none left to lend (a wait, then a timeout).
        if hasattr(connection, "close_pool"):
            connection.close()
            connection.close_pool()


def run(scenario):
    async def with_shutdown():
        try:
            return await scenario()
        finally:
            await position_intake.shutdown()

    return async_to_sync(with_shutdown)()


async def post(app, body, *headers, content_type=b"application/json"):
    """One HTTP request over ASGI; returns (status, headers dict, body bytes, whether Django saw it)."""
    seen_by_django = []

    def saw(**kwargs):
        seen_by_django.append(True)

    request_started.connect(saw)
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": URL, "raw_path": URL.encode(), "query_string": b"", "root_path": "",
        "headers": [
            (b"host", b"testserver"), (b"content-type", content_type),
            (b"content-length", str(len(payload)).encode()), *headers,
        ],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip
    communicator = ApplicationCommunicator(app, scope)
    try:
        # Two chunks, as a client may send them: the intake must read the whole body.
        await communicator.send_input({"type": "http.request", "body": payload[:7], "more_body": True})
        await communicator.send_input({"type": "http.request", "body": payload[7:], "more_body": False})
        start = await communicator.receive_output(TIMEOUT)
        body_parts = []
        while True:
            message = await communicator.receive_output(TIMEOUT)
            body_parts.append(message.get("body", b""))
            if not message.get("more_body"):
                break
    finally:
        request_started.disconnect(saw)
    headers_out = {name.decode().lower(): value.decode() for name, value in start["headers"]}
    return start["status"], headers_out, b"".join(body_parts), bool(seen_by_django)


@database_sync_to_async
def stored(driver):
    driver.refresh_from_db()
    return DriverPosition.objects.filter(driver=driver).count(), driver.last_lat, driver.last_position_at


@intake_on
def test_it_stores_a_batch_without_django_and_answers_like_the_view(driver_a):
    auth = token_header(driver_a.user)
    batch = [position(30, speed_mps=8.5, heading=90, accuracy_m=5), position(20), position(10, lat=47.15)]
    request_id = (b"x-request-id", b"phone-request-0001")  # echoed by both (a made one differs per request)

    async def scenario():
        status, headers, body, via_django = await post(application, {"positions": batch}, auth, request_id)
        assert (status, via_django) == (202, False), body
        assert await stored(driver_a) == (3, 47.15, datetime.fromisoformat(batch[2]["recorded_at"]))
        # The same request answered by the view: same status, body and headers.
        view_status, view_headers, view_body, via_django = await post(
            view_only_app, {"positions": batch}, auth, request_id
        )
        assert (view_status, via_django) == (202, True), view_body
        assert json.loads(body) == json.loads(view_body)
        assert headers.keys() == view_headers.keys()
        for name, value in view_headers.items():
            if name == "content-security-policy":  # the view's carries a per-request script nonce
                value = re.sub(r" 'nonce-[^']+'", "", value)
            if name != "content-length":
                assert headers[name] == value, name
        return await stored(driver_a)

    count, _, _ = run(scenario)
    assert count == 6
    rows = list(DriverPosition.objects.filter(driver=driver_a).order_by("recorded_at", "id"))
    assert {(row.vehicle_id, row.speed_mps, row.heading, row.accuracy_m) for row in rows[:2]} == {
        (driver_a.vehicle_id, 8.5, 90.0, 5.0)
    }


@intake_on
def test_an_old_offline_batch_is_stored_but_does_not_move_the_driver_back(driver_a):
    auth = token_header(driver_a.user)

    async def scenario():
        assert (await post(application, {"positions": [position(5, lat=47.2)]}, auth))[0] == 202
        offline = {"positions": [position(600 - i, lat=47.0 + i / 1000) for i in range(50)]}
        status, _, body, via_django = await post(application, offline, auth)
        assert (status, via_django, json.loads(body)["accepted"]) == (202, False, 50)
        return await stored(driver_a)

    count, last_lat, _ = run(scenario)
    assert (count, last_lat) == (51, 47.2)


BAD_POSITIONS = [
    ("lat", 90.5),
    ("lon", -180.5),
    ("lat", "NaN"),
    ("lat", "47.1"),  # a number as a string: the view decides (it accepts it)
    ("recorded_at", "yesterday"),
    ("recorded_at", "2026-02-30T10:00:00+01:00"),
    ("recorded_at", "2026-11-26T10:00:00"),  # no offset: the view decides (server's zone)
    ("recorded_at", "6 minutes ahead"),  # made when the test runs: collection may be minutes earlier
    ("heading", 361),
    ("speed_mps", -0.1),
    ("accuracy_m", True),
]


@pytest.mark.parametrize("field,value", BAD_POSITIONS)
def test_anything_doubtful_is_answered_by_the_view(driver_a, field, value):
    if value == "6 minutes ahead":
        value = (timezone.now() + timedelta(minutes=6)).isoformat()
    auth = token_header(driver_a.user)
    body = {"positions": [position(5), position(4, **{field: value})]}

    async def scenario():
        answer = await post(application, body, auth)
        view_answer = await post(view_only_app, body, auth)
        return answer, view_answer

    (status, _, content, via_django), (view_status, _, view_content, _) = run(scenario)
    assert via_django
    assert status == view_status
    if status != 202:  # the view's error names the row and field; the intake never wrote a row
        assert json.loads(content)["errors"][0]["field"] == f"positions[1].{field}"
        assert DriverPosition.objects.count() == 0


@pytest.mark.parametrize(
    "body", [b"\xff\xfe not json", b"[]", b'{"positions": []}', b'{"positions": {"lat": 1}}', b'{"positions": [1]}']
)
def test_a_malformed_body_gets_the_views_400_and_writes_nothing(driver_a, body):
    auth = token_header(driver_a.user)
    status, _, content, via_django = run(lambda: post(application, body, auth))
    assert (status, via_django) == (400, True), content
    assert DriverPosition.objects.count() == 0


def test_who_may_post_is_decided_as_by_the_view(driver_a, dispatcher_a):
    batch = {"positions": [position(1)]}
    dispatcher_auth, driver_auth = token_header(dispatcher_a), token_header(driver_a.user)

    async def scenario():
        return [
            await post(application, batch, (b"authorization", b"Token 0123456789abcdef0123456789abcdef01234567")),
            await post(application, batch, dispatcher_auth),
            await post(application, batch),
            await post(application, batch, driver_auth, content_type=b"text/plain"),
        ]

    answers = run(scenario)
    assert [(status, via_django) for status, _, _, via_django in answers] == [
        (401, True), (403, True), (401, True), (415, True),
    ]  # fmt: skip
    assert DriverPosition.objects.count() == 0


@intake_on
def test_an_inactive_drivers_token_is_refused(driver_a):
    auth = token_header(driver_a.user)
    driver_a.user.is_active = False
    driver_a.user.save()
    status, _, _, via_django = run(lambda: post(application, {"positions": [position(1)]}, auth))
    assert (status, via_django) == (401, True)
    assert DriverPosition.objects.count() == 0


@intake_on
def test_dashboards_get_each_position_one_way_or_batched(driver_a, dispatcher_a):
    auth, dashboard_auth = token_header(driver_a.user), token_header(dispatcher_a)

    async def scenario():
        plain = WebsocketCommunicator(application, "/ws/dispatch/", headers=[ORIGIN, dashboard_auth])
        batched = WebsocketCommunicator(
            application, "/ws/dispatch/?positions=batched", headers=[ORIGIN, dashboard_auth]
        )
        for communicator in (plain, batched):
            assert (await communicator.connect(TIMEOUT))[0]
            snapshot = await communicator.receive_json_from(TIMEOUT)
        seq_before = snapshot["seq"][f"depot.{driver_a.depot_id}"]
        sent = position(1, lat=47.16, heading=45, speed_mps=3)
        assert (await post(application, {"positions": [sent]}, auth))[0] == 202
        one = await plain.receive_json_from(TIMEOUT)
        batch = await batched.receive_json_from(TIMEOUT)
        for communicator in (plain, batched):
            await communicator.disconnect()
        return seq_before, sent, one, batch

    seq_before, sent, one, batch = run(scenario)
    assert one["type"] == "driver.position" and one["seq"] == seq_before + 1
    assert (one["driver"], one["vehicle"], one["lat"], one["heading"], one["speed_mps"]) == (
        driver_a.pk, driver_a.vehicle_id, 47.16, 45, 3
    )  # fmt: skip
    assert datetime.fromisoformat(one["recorded_at"]) == datetime.fromisoformat(sent["recorded_at"])
    assert batch["type"] == "driver.positions" and batch["depot"] == driver_a.depot_id
    assert batch["first_seq"] == batch["seq"] == seq_before + 1
    assert batch["positions"] == [{key: value for key, value in one.items() if key not in ("type", "seq")}]


@intake_on
def test_positions_inside_a_window_are_coalesced_and_the_newest_follows(driver_a, dispatcher_a):
    auth, dashboard_auth = token_header(driver_a.user), token_header(dispatcher_a)

    async def scenario():
        dashboard = WebsocketCommunicator(application, "/ws/dispatch/", headers=[ORIGIN, dashboard_auth])
        assert (await dashboard.connect(TIMEOUT))[0]
        await dashboard.receive_json_from(TIMEOUT)
        started = time.monotonic()
        for lat in (47.10, 47.11, 47.12):
            assert (await post(application, {"positions": [position(0, lat=lat)]}, auth))[0] == 202
            await asyncio.sleep(0.15)  # more than a tick, well inside the one-second window
        posting_s = time.monotonic() - started
        received = [await dashboard.receive_json_from(TIMEOUT)]
        while received[-1]["lat"] != 47.12:  # bounded: receive_json_from times out
            received.append(await dashboard.receive_json_from(TIMEOUT))
        assert await dashboard.receive_nothing(1.5)
        await dashboard.disconnect()
        return received, posting_s

    received, posting_s = run(scenario)
    assert received[0]["lat"] == 47.10
    assert [message["seq"] for message in received] == list(
        range(received[0]["seq"], received[0]["seq"] + len(received))
    )
    if posting_s < 0.95:  # a machine slow enough to spread the posts over two windows sends one more
        assert [message["lat"] for message in received] == [47.10, 47.12]


moves = []


def record_move(**payload):
    moves.append(payload)


@intake_on
def test_the_other_listeners_hear_of_each_driver_at_most_every_few_seconds(driver_a, settings, monkeypatch):
    settings.LIVE_FOLLOWUP_EVERY_S = 60
    monkeypatch.setitem(events.HANDLERS, "driver_moved", (*events.HANDLERS["driver_moved"], f"{__name__}.record_move"))
    moves.clear()
    auth = token_header(driver_a.user)

    async def scenario():
        assert (await post(application, {"positions": [position(0, lat=47.10)]}, auth))[0] == 202
        for _ in range(300):  # bounded: up to 30 s for the first followup (one tick, one task)
            if moves:
                break
            await asyncio.sleep(0.1)
        assert moves, "no followup for the first position within 30 s"
        assert (await post(application, {"positions": [position(0, lat=47.11)]}, auth))[0] == 202
        await asyncio.sleep(1.5)  # a followup batch goes out at most every second: none is due for this driver

    run(scenario)
    assert [(move["driver_id"], move["lat"]) for move in moves] == [(driver_a.pk, 47.10)]
    assert isinstance(moves[0]["recorded_at"], datetime) and moves[0]["depot_id"] == driver_a.depot_id


def test_it_is_on_in_the_production_and_the_embedded_mode_and_off_on_postgresql_without_redis(settings):
    engine = settings.DATABASES["default"]["ENGINE"]
    on = engine.endswith("sqlite3") or (engine.endswith("postgresql") and bool(settings.REDIS_URL))
    assert position_intake.intake_enabled() == (on and settings.POSITION_INTAKE)
    settings.POSITION_INTAKE, settings.REDIS_URL = True, ""
    assert position_intake.intake_enabled() == engine.endswith("sqlite3")
    settings.POSITION_INTAKE = False
    assert not position_intake.intake_enabled()


@intake_on
def test_the_latest_position_only_moves_forward_whichever_path_stored_it(driver_a):
    """The lean path and the view compare the same stored times: on SQLite these are text, written
    without microseconds when there are none (Django's format), so both edges are posted."""
    auth = token_header(driver_a.user)
    whole_second = timezone.now().replace(microsecond=0) - timedelta(minutes=1)

    def at(moment, lat):
        return {"positions": [{**position(), "lat": lat, "recorded_at": moment.isoformat()}]}

    async def scenario():
        steps = [
            (view_only_app, whole_second, 47.10, True),  # the view stores the newest so far
            (application, whole_second - timedelta(seconds=0.5), 47.11, False),  # older: kept, no move
            (application, whole_second, 47.12, False),  # the same time: not newer
            (application, whole_second + timedelta(seconds=0.5), 47.13, True),  # newer by half a second
            (view_only_app, whole_second + timedelta(seconds=0.25), 47.14, False),  # older, by the view
        ]
        seen = []
        for app, moment, lat, _ in steps:
            status, _, body, via_django = await post(app, at(moment, lat), auth)
            assert status == 202, body
            seen.append((via_django, (await stored(driver_a))[1]))
        return steps, seen

    steps, seen = run(scenario)
    latest, expected = None, []
    for app, _, lat, moves in steps:
        latest = lat if moves else latest
        expected.append((app is view_only_app, latest))
    assert seen == expected
    assert DriverPosition.objects.filter(driver=driver_a).count() == 5


@intake_on
def test_a_full_offline_batch_in_any_order_is_stored_whole_and_moves_to_its_newest(driver_a):
    auth = token_header(driver_a.user)
    offline = [position(900 - 1.5 * i, lat=47.0 + i / 10_000) for i in range(500)]
    offline.reverse()
    offline[100], offline[400] = offline[400], offline[100]

    async def scenario():
        status, _, body, via_django = await post(application, {"positions": offline}, auth)
        assert (status, via_django) == (202, False), body
        return json.loads(body), await stored(driver_a)

    answer, (count, last_lat, last_at) = run(scenario)
    newest = max(offline, key=lambda row: row["recorded_at"])
    assert answer["accepted"] == count == 500
    assert (last_lat, last_at) == (newest["lat"], datetime.fromisoformat(newest["recorded_at"]))
    assert datetime.fromisoformat(answer["latest_recorded_at"].replace("Z", "+00:00")) == last_at


@intake_on
def test_behind_a_tls_proxy_it_sends_the_views_hsts_and_redirects_plain_http_like_it(driver_a, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_SSL_REDIRECT = True
    # Django's handler reads the security settings when it loads its middleware: load it again.
    django_app = get_asgi_application()
    intake_app, view_app = PositionIntakeMiddleware(django_app), PositionIntakeMiddleware(django_app)
    view_app.enabled = False
    auth = token_header(driver_a.user)
    batch = {"positions": [position(1)]}
    over_tls = (b"x-forwarded-proto", b"https")

    async def scenario():
        return [
            await post(intake_app, batch, auth, over_tls),
            await post(view_app, batch, auth, over_tls),
            await post(intake_app, batch, auth),  # plain HTTP: the view's redirect
        ]

    (status, headers, _, via_django), (view_status, view_headers, _, _), (plain_status, _, _, plain_via) = run(scenario)
    assert (status, via_django, view_status) == (202, False, 202)
    assert headers["strict-transport-security"] == view_headers["strict-transport-security"]
    assert (plain_status, plain_via) == (301, True)


@intake_on
def test_a_token_wins_over_cookies_as_in_the_view(driver_a):
    auth = token_header(driver_a.user)
    status, _, _, via_django = run(
        lambda: post(application, {"positions": [position(1)]}, auth, (b"cookie", b"sessionid=abc; csrftoken=x"))
    )
    assert (status, via_django) == (202, False)


def session_headers(user, *, csrf: str | None = "valid", origin: bytes | None = None) -> list[tuple[bytes, bytes]]:
    """What the driver web app sends: its session cookie, the CSRF cookie and the X-CSRFToken header."""
    from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret

    session = Client()
    session.force_login(user)
    secret = _get_new_csrf_string()
    cookies = f"{settings.SESSION_COOKIE_NAME}={session.cookies[settings.SESSION_COOKIE_NAME].value}; "
    cookies += f"{settings.CSRF_COOKIE_NAME}={secret}"
    headers = [(b"cookie", cookies.encode())]
    if csrf is not None:
        token = _mask_cipher_secret(secret) if csrf == "valid" else _mask_cipher_secret(_get_new_csrf_string())
        headers.append((b"x-csrftoken", token.encode()))
    if origin is not None:
        headers.append((b"origin", origin))
    return headers


@intake_on
def test_the_driver_web_apps_session_takes_the_lean_path_and_answers_like_the_view(driver_a):
    headers = session_headers(driver_a.user, origin=b"http://testserver")
    batch = {"positions": [position(3), position(2, lat=47.15)]}

    async def scenario():
        answer = await post(application, batch, *headers)
        view_answer = await post(view_only_app, batch, *headers)
        return answer, view_answer

    (status, headers_out, body, via_django), (view_status, view_headers, view_body, _) = run(scenario)
    assert (status, via_django) == (202, False), body
    assert view_status == 202 and json.loads(body) == json.loads(view_body)
    assert headers_out.keys() == view_headers.keys()
    assert headers_out["vary"] == view_headers["vary"]
    assert DriverPosition.objects.filter(driver=driver_a).count() == 4
    assert Driver.objects.get(pk=driver_a.pk).last_lat == 47.15


@intake_on
@pytest.mark.parametrize(
    "case",
    [
        "no csrf header", "wrong csrf token", "foreign origin", "unknown session", "password changed", "dispatcher",
        "inactive driver",
    ],
)  # fmt: skip
def test_a_session_the_view_would_refuse_is_left_to_the_view(driver_a, dispatcher_a, case):
    user = dispatcher_a if case == "dispatcher" else driver_a.user
    headers = session_headers(
        user, csrf=None if case == "no csrf header" else ("wrong" if case == "wrong csrf token" else "valid"),
        origin=b"http://evil.example" if case == "foreign origin" else None,
    )  # fmt: skip
    if case == "unknown session":
        headers[0] = (b"cookie", re.sub(rb"sessionid=[^;]+", b"sessionid=nosuchsession", headers[0][1]))
    if case == "password changed":
        user.set_password("a new password 123")
        user.save()
    if case == "inactive driver":
        user.is_active = False
        user.save()
    status, _, content, via_django = run(lambda: post(application, {"positions": [position(1)]}, *headers))
    assert via_django and status in (401, 403), (status, content)
    assert DriverPosition.objects.count() == 0


@intake_on
@with_redis
def test_positions_are_stored_while_redis_is_unreachable_and_the_failure_is_logged_once(driver_a, settings, caplog):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}  # port 1: nobody
    auth = token_header(driver_a.user)

    async def scenario():
        for lat in (47.10, 47.11):
            assert (await post(application, {"positions": [position(0, lat=lat)]}, auth))[0] == 202
            await asyncio.sleep(0.5)

    run(scenario)
    count, last_lat, _ = async_to_sync(stored)(driver_a)
    assert (count, last_lat) == (2, 47.11)
    failures = [record for record in caplog.records if "could not broadcast driver positions" in record.getMessage()]
    assert len(failures) == 1


class _LockedDatabase:
    """A store that fails as a busy SQLite does once its busy timeout is over (or PostgreSQL when down)."""

    async def store(self, rows, **who):
        raise sqlite3.OperationalError("database is locked")

    async def session_user(self, session_key):
        raise sqlite3.OperationalError("database is locked")


@intake_on
def test_a_batch_the_intake_cannot_store_is_answered_by_the_view_and_logged(driver_a, monkeypatch, caplog):
    monkeypatch.setattr(position_intake, "_store_of_this_database", _LockedDatabase)
    auth = token_header(driver_a.user)
    status, _, body, via_django = run(lambda: post(application, {"positions": [position(1, lat=47.17)]}, auth))
    assert (status, via_django) == (202, True), body
    assert async_to_sync(stored)(driver_a)[:2] == (1, 47.17)
    assert any("could not store a batch" in record.getMessage() for record in caplog.records)


@intake_on
def test_it_speaks_the_language_the_view_would_a_session_users_own_or_the_browsers(driver_a):
    from dispatch.models import UserPreference

    UserPreference.objects.create(user=driver_a.user, language="de")
    session = session_headers(driver_a.user, origin=b"http://testserver")
    token_in_german = [token_header(driver_a.user), (b"accept-language", b"de-CH,de;q=0.9")]

    async def scenario():
        answers = []
        for headers in (session, token_in_german):
            batch = {"positions": [position(1)]}
            answers.append((await post(application, batch, *headers), await post(view_only_app, batch, *headers)))
        return answers

    for (status, headers, _, via_django), (view_status, view_headers, _, _) in run(scenario):
        assert (status, via_django, view_status) == (202, False, 202)
        assert (headers.get("content-language"), headers["vary"]) == (
            view_headers.get("content-language"), view_headers["vary"]
        )  # fmt: skip
