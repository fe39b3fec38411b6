"""The lean path for POST /api/driver/positions/: a batch stored without a Django request.

Every driver's phone posts every few seconds; through Django and DRF a position cost ~12 ms of CPU
(middleware hand-offs between threads, the serializer, one ORM round trip per statement), so a
2-core server topped out near 60 positions/s (benchmarks/LIVE.md). This ASGI middleware answers the
common case itself on the event loop: a JSON batch that is valid on its face, from a phone with an
API token, or from the driver web app with its session and CSRF token (checked by Django's own
CSRF code, the session verified as django.contrib.auth.get_user does). The broadcast goes to
dispatch.live.position_fanout, which hands the other listeners of a move (live ETAs, idle alerts) to a
task.

In production (PostgreSQL and Redis) authentication, the append-only INSERT and the conditional
update of the driver's latest position are one statement on a pooled async connection (a session
costs two reads first). In the embedded mode (SQLite, `make run`) the same two reads and writes run
on a dedicated connection of one writer thread (dispatch.live.position_intake_sqlite), and the fan-out's
windows and seqs live in the process's memory, as dispatch.live.broadcast keeps them there.

Anything else falls through to the Django view with the body replayed untouched: a token or session
the view might refuse, a body this parser has doubts about (the view then answers 400 naming the
row and field), a store that failed (the view answers for an outage, or waits out a busy SQLite),
PostgreSQL without Redis. So both paths accept exactly the same requests and the view stays the
single source of error messages; tests post the same requests both ways, in both modes, and compare.
"""

import asyncio
import io
import json
import logging
import math
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.http.cookie import parse_cookie
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_datetime
from rest_framework import serializers
from rest_framework.authentication import CSRFCheck
from rest_framework.authtoken.models import Token

from config import metrics, request_id
from config.security_headers import add_security_headers
from dispatch.live.intake_sessions import (
    USER_LANGUAGE_MIDDLEWARE,
    session_claim,
    session_user_sql,
    session_verified,
)
from dispatch.live.position_fanout import fanout
from dispatch.live.position_intake_sqlite import database
from dispatch.live.positions import MAX_CLOCK_AHEAD, MAX_POSITIONS_PER_BATCH
from dispatch.models import Driver, DriverPosition
from dispatch.roles import DRIVER

logger = logging.getLogger(__name__)

PATH = "/api/driver/positions/"
DB_SESSIONS = "django.contrib.sessions.backends.db"
_REQUEST_ID_MIDDLEWARE = "config.request_id.RequestIdMiddleware"  # echoes X-Request-ID: so does this path
_LOCALE_MIDDLEWARE = "django.middleware.locale.LocaleMiddleware"  # Content-Language, Vary: Accept-Language
# A full batch of 500 positions is ~100 kB of JSON; anything larger goes to the view (which refuses it).
MAX_BODY_BYTES = 256 * 1024
_OPTIONAL_NUMBERS = {"accuracy_m": (0, None), "speed_mps": (0, None), "heading": (0, 360)}
# How the view writes `latest_recorded_at` (the server's zone, ISO 8601, "Z" for UTC).
_LATEST_RECORDED_AT = serializers.DateTimeField()


def intake_enabled() -> bool:
    """On with PostgreSQL and Redis (the production mode) and on SQLite (the embedded mode: one
    process, the in-memory channel layer), unless POSITION_INTAKE=0. PostgreSQL without Redis (no
    shared broadcast windows between processes) is left to the view."""
    database = settings.DATABASES["default"]["ENGINE"]
    production = database.endswith("postgresql") and bool(settings.REDIS_URL)
    return settings.POSITION_INTAKE and (production or database.endswith("sqlite3"))


# --- parsing: accept only what the view would accept, else return None ------------------------


def _number(value, low, high) -> float | None:
    # bool is an int in Python but not a number in JSON; strings ("47.1") are left to the view.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        return None
    return value


def _datetime(value) -> datetime | None:
    try:
        return parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well-formed but not a real time (February 30th)
        return None


def positions_parse(body: bytes, now: datetime) -> list[tuple] | None:
    """(lat, lon, recorded_at, accuracy_m, speed_mps, heading) per position, or None when in doubt."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    positions = payload.get("positions") if isinstance(payload, dict) else None
    if not isinstance(positions, list) or not 0 < len(positions) <= MAX_POSITIONS_PER_BATCH:
        return None
    latest_allowed = now + MAX_CLOCK_AHEAD
    rows = []
    for position in positions:
        if not isinstance(position, dict):
            return None
        lat, lon = _number(position.get("lat"), -90, 90), _number(position.get("lon"), -180, 180)
        recorded_at = _datetime(position.get("recorded_at"))
        # A time without an offset means the server's zone to the view: let it decide.
        if lat is None or lon is None or recorded_at is None or recorded_at.utcoffset() is None:
            return None
        if recorded_at > latest_allowed:
            return None
        optional = []
        for name, (low, high) in _OPTIONAL_NUMBERS.items():
            value = position.get(name)
            if value is not None:
                value = _number(value, low, high)
                if value is None:
                    return None
            optional.append(value)
        rows.append((lat, lon, recorded_at.astimezone(UTC), *optional))
    return rows


# --- storing: authentication, history and latest position in one statement ----------------------


def _store_sql(by: str) -> str:
    """The statement, with the driver found by API token (`by="token"`) or by user id (a session)."""
    user_model = get_user_model()
    groups = user_model.groups.through
    group_fk = groups._meta.get_field("group").column
    user_fk = groups._meta.get_field(user_model._meta.model_name).column
    group_table = groups._meta.get_field("group").related_model._meta.db_table
    who = (
        f"u.id = (SELECT t.user_id FROM {Token._meta.db_table} t WHERE t.key = %(key)s)"  # nosec B608  # a table name
        if by == "token"
        else "u.id = %(user_id)s"
    )
    return f"""
WITH driver AS (
    SELECT d.id, d.vehicle_id, d.depot_id
    FROM {user_model._meta.db_table} u
    JOIN {Driver._meta.db_table} d ON d.user_id = u.id
    WHERE u.is_active AND {who} AND EXISTS (
        SELECT 1 FROM {groups._meta.db_table} ug JOIN {group_table} g ON g.id = ug.{group_fk}
        WHERE ug.{user_fk} = u.id AND g.name = %(group)s)
), batch AS (
    SELECT * FROM unnest(%(lat)s::float8[], %(lon)s::float8[], %(at)s::timestamptz[], %(accuracy)s::float8[],
                         %(speed)s::float8[], %(heading)s::float8[])
        AS b(lat, lon, recorded_at, accuracy_m, speed_mps, heading)
), stored AS (
    INSERT INTO {DriverPosition._meta.db_table}
        (driver_id, vehicle_id, lat, lon, recorded_at, received_at, accuracy_m, speed_mps, heading)
    SELECT driver.id, driver.vehicle_id, b.lat, b.lon, b.recorded_at, now(), b.accuracy_m, b.speed_mps, b.heading
    FROM driver, batch b
    RETURNING 1
), newest AS (
    SELECT * FROM batch ORDER BY recorded_at DESC LIMIT 1
), moved AS (
    -- Decided by the database, as in dispatch.live.positions: a late offline batch never moves it backwards.
    UPDATE {Driver._meta.db_table} d
    SET last_lat = n.lat, last_lon = n.lon, last_heading = n.heading, last_speed_mps = n.speed_mps,
        last_position_at = n.recorded_at
    FROM driver, newest n
    WHERE d.id = driver.id AND (d.last_position_at IS NULL OR d.last_position_at < n.recorded_at)
    RETURNING d.id
)
SELECT driver.id, driver.vehicle_id, driver.depot_id, (SELECT count(*) FROM stored), EXISTS (SELECT 1 FROM moved)
FROM driver
"""  # nosec B608  # identifiers from code, values as %s parameters


class _Database:
    """A small pool of autocommit connections of this process's event loop, for positions only."""

    def __init__(self):
        self.pool = None
        self.loop = None
        self.sql = None

    async def close(self) -> None:
        if self.pool is not None and self.loop is asyncio.get_running_loop():
            await self.pool.close()
        self.pool = self.loop = None

    async def _open(self):
        from psycopg_pool import AsyncConnectionPool

        database = settings.DATABASES["default"]
        params = {
            "dbname": database["NAME"], "user": database.get("USER") or None,
            "password": database.get("PASSWORD") or None, "host": database.get("HOST") or None,
            "port": database.get("PORT") or None,
            **{key: value for key, value in database.get("OPTIONS", {}).items() if isinstance(value, str | int)},
        }  # fmt: skip

        async def configure(connection):
            # Telemetry, as in dispatch.live.positions: a crash may lose the last fraction of a second of
            # positions (never half a batch); the commit need not wait for the WAL flush.
            await connection.execute("SET synchronous_commit TO OFF")

        pool = AsyncConnectionPool(
            kwargs={**{k: v for k, v in params.items() if v is not None}, "autocommit": True},
            min_size=1,
            max_size=settings.POSITION_INTAKE_POOL_SIZE,
            configure=configure,
            check=AsyncConnectionPool.check_connection,  # a restarted server costs one failed check, not a 500
            open=False,
            name="position-intake",
        )
        await pool.open()
        self.sql = {"token": _store_sql("token"), "user": _store_sql("user")}
        self.pool, self.loop = pool, asyncio.get_running_loop()

    async def _ready(self):
        # A pool belongs to the event loop it was opened on (one per daphne process; tests make more).
        if self.pool is None or self.loop is not asyncio.get_running_loop():
            await self._open()

    async def store(self, rows: list[tuple], *, key: str | None = None, user_id: int | None = None):
        """Store for the driver of API token `key`, or of user `user_id` (an already verified session)."""
        await self._ready()
        columns = list(zip(*rows, strict=True))
        async with self.pool.connection() as connection:
            cursor = await connection.execute(
                self.sql["token" if key is not None else "user"],
                {
                    "key": key, "user_id": user_id, "group": DRIVER, "lat": list(columns[0]),
                    "lon": list(columns[1]), "at": list(columns[2]), "accuracy": list(columns[3]),
                    "speed": list(columns[4]), "heading": list(columns[5]),
                },
            )  # fmt: skip
            return await cursor.fetchone()

    async def session_user(self, session_key: str) -> tuple[int, str] | None:
        """(user id, the user's stored language or "") of the user a browser session logged in, as
        django.contrib.auth.get_user decides it; None whenever the view might decide otherwise (it
        then answers, flushing the session if need be)."""
        await self._ready()
        async with self.pool.connection() as connection:
            cursor = await connection.execute(
                f"SELECT session_data FROM {Session._meta.db_table} WHERE session_key = %s AND expire_date > %s",  # nosec B608
                (session_key, timezone.now()),
            )
            found = await cursor.fetchone()
            claim = session_claim(found[0]) if found else None
            if claim is None:
                return None
            user_id, session_hash = claim
            cursor = await connection.execute(session_user_sql().replace("?", "%s"), (user_id,))
            found = await cursor.fetchone()
        verified = session_verified(user_id, session_hash, found[0] if found else None)
        return None if verified is None else (verified, found[1] or "")


_database = _Database()


def _store_of_this_database():
    """Where batches are stored: this module's PostgreSQL pool, or the embedded mode's SQLite writer."""
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        return database
    return _database


async def shutdown() -> None:
    """Close this loop's connections and forget what is pending (tests; a server's loop ends with the process)."""
    await _database.close()
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        await database.close()
    await fanout.drain()


# --- the ASGI middleware ---------------------------------------------------------------------------


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def _token_key(scope) -> str | None:
    # The view's authentication tries the token first too: with one, cookies do not matter.
    parts = (_header(scope, b"authorization") or b"").split()
    if len(parts) != 2 or parts[0].lower() != b"token":
        return None
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        return None


def _session_key(scope) -> str | None:
    """The session cookie of a request without an Authorization header (the driver web app)."""
    if _header(scope, b"authorization") is not None or settings.SESSION_ENGINE != DB_SESSIONS:
        return None
    cookies = parse_cookie((_header(scope, b"cookie") or b"").decode("latin-1"))
    return cookies.get(settings.SESSION_COOKIE_NAME) or None


def _csrf_passes(request) -> bool:
    """Django's own CSRF check, as DRF's session authentication runs it (Origin, Referer, token)."""
    check = CSRFCheck(lambda request: None)
    check.process_request(request)
    return check.process_view(request, None, (), {}) is None


async def _read_body(receive) -> tuple[bytes, bool, bool]:
    """(body read so far, whole body read, client gone); stops reading past MAX_BODY_BYTES."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False, True
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        finished = not message.get("more_body", False)
        if finished or size > MAX_BODY_BYTES:
            return b"".join(chunks), finished, False


def _replaying(body: bytes, complete: bool, receive):
    """A receive() that hands the view the body already read, then continues with the client's."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay


def _answer_as_is(request) -> bool:
    """What Django's middleware would turn away or redirect before the view: the view answers it."""
    try:
        request.get_host()  # against ALLOWED_HOSTS
    except DisallowedHost:
        return False
    return not (settings.SECURE_SSL_REDIRECT and not request.is_secure())


def _accepted(request, body: bytes, *, by_session: bool, user_language: str) -> list[tuple[bytes, bytes]]:
    """The headers of the view's 202 for this request, put on by the same middleware."""
    response = HttpResponse(body, content_type="application/json", status=202)
    response["Allow"] = "POST, OPTIONS"  # DRF's APIView
    # DRF varies on Accept, LocaleMiddleware on Accept-Language; the session middleware adds Cookie
    # once the session was read (by the session's authentication, or for the user's language).
    session_read = by_session or USER_LANGUAGE_MIDDLEWARE in settings.MIDDLEWARE
    locale = _LOCALE_MIDDLEWARE in settings.MIDDLEWARE
    patch_vary_headers(
        response, ("Accept", *(("Accept-Language",) if locale else ()), *(("Cookie",) if session_read else ()))
    )
    if locale:
        # As LocaleMiddleware then UserLanguageMiddleware choose it (the API is not under i18n_patterns).
        languages = {code for code, _name in settings.LANGUAGES}
        chosen = user_language if user_language in languages else translation.get_language_from_request(request)
        response.headers.setdefault("Content-Language", chosen)
    for middleware in (SecurityMiddleware, XFrameOptionsMiddleware):  # made here: they read settings when made
        middleware(lambda request: response).process_response(request, response)
    add_security_headers(request, response)
    if _REQUEST_ID_MIDDLEWARE in settings.MIDDLEWARE:
        response[request_id.HEADER] = request_id.from_header(request.headers.get(request_id.HEADER))
    response["Content-Length"] = str(len(body))
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]


class PositionIntakeMiddleware:
    def __init__(self, app):
        self.app = app
        self.enabled = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        if self.enabled is None:
            self.enabled = intake_enabled()
        key = _token_key(scope) if self.enabled else None
        session_key = _session_key(scope) if self.enabled and key is None else None
        content_type = (_header(scope, b"content-type") or b"").split(b";")[0].strip().lower()
        if (key is None and session_key is None) or content_type != b"application/json":
            return await self.app(scope, receive, send)
        body, complete, gone = await _read_body(receive)
        if gone:
            return None
        request = ASGIRequest(scope, io.BytesIO(body))  # for Django's own host, HTTPS and CSRF rules
        parsable = complete and len(body) <= MAX_BODY_BYTES and _answer_as_is(request)
        rows = positions_parse(body, timezone.now()) if parsable else None
        stored, user_language = None, ""
        if rows is not None:
            try:
                stored, user_language = await self._store(rows, request, key, session_key)
            except Exception:  # noqa: BLE001 - the view answers for an outage (and logs it), never a half write
                logger.exception("position intake could not store a batch; the view answers instead")
        if stored is None:
            return await self.app(scope, _replaying(body, complete, receive), send)
        driver_id, vehicle_id, depot_id, accepted, moved = stored
        metrics.positions_accepted(accepted, path="intake")
        newest = max(rows, key=lambda row: row[2])
        if moved:
            lat, lon, recorded_at, _accuracy, speed_mps, heading = newest
            fanout.driver_moved(
                driver_id=driver_id, vehicle_id=vehicle_id, depot_id=depot_id, lat=lat, lon=lon,
                recorded_at=recorded_at, heading=heading, speed_mps=speed_mps,
            )  # fmt: skip
        latest = _LATEST_RECORDED_AT.to_representation(newest[2])
        response = json.dumps({"accepted": accepted, "latest_recorded_at": latest}).encode()
        headers = _accepted(request, response, by_session=key is None, user_language=user_language)
        await send({"type": "http.response.start", "status": 202, "headers": headers})
        await send({"type": "http.response.body", "body": response})

    @staticmethod
    async def _store(rows, request, key, session_key) -> tuple[tuple | None, str]:
        """(what the store answered or None, the session user's stored language or "")."""
        database = _store_of_this_database()
        if key is not None:
            return await database.store(rows, key=key), ""
        if not _csrf_passes(request):
            return None, ""
        user = await database.session_user(session_key)
        if user is None:
            return None, ""
        user_id, user_language = user
        return await database.store(rows, user_id=user_id), user_language
