"""The lean intake's storage in the embedded mode (SQLite): what dispatch.live.position_intake's one
PostgreSQL statement does, on a dedicated SQLite connection of one writer thread.

The embedded mode is `make run` and `make simulate` on a laptop: every position came through the
Django view, 3.6 ms of CPU each (8 ms as the simulator paces them) against 0.5 ms for the lean path
on PostgreSQL (benchmarks/LIVE.md). The view's cost is Django's and DRF's machinery, not SQLite's:
here a batch is one read (the token's driver) and one short write transaction (the batch INSERT and
the forward-only UPDATE of the driver's latest position), as in dispatch.live.positions.

One thread, one connection, never the event loop: SQLite runs one writer at a time anyway, so a
single writer thread serialises the intake's own batches without lock waits, and the event loop
never blocks on the file. The write lock is shared with the in-process task threads and the views
(Django's connections, BEGIN IMMEDIATE): this connection waits for it as long as they do (the busy
timeout of DATABASES["default"]["OPTIONS"]), and when the wait fails the view answers instead.

Values are written exactly as Django's SQLite backend writes them (datetimes as naive UTC text), so
the ORM, the view and this path compare the same strings: a late offline batch never moves the
latest position backwards, whoever stored the newer one.
"""

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import connections
from rest_framework.authtoken.models import Token

from dispatch.live.intake_sessions import session_claim, session_user_sql, session_verified
from dispatch.models import Driver, DriverPosition
from dispatch.roles import DRIVER


def _sqlite_datetime(moment: datetime) -> str:
    # django.db.backends.sqlite3's adapt_datetimefield_value with USE_TZ: naive UTC, str().
    return str(moment.astimezone(UTC).replace(tzinfo=None))


def _statements() -> dict[str, str]:
    user_model = get_user_model()
    groups = user_model.groups.through
    group_fk = groups._meta.get_field("group").column
    user_fk = groups._meta.get_field(user_model._meta.model_name).column
    group_table = groups._meta.get_field("group").related_model._meta.db_table
    users, drivers, positions = user_model._meta.db_table, Driver._meta.db_table, DriverPosition._meta.db_table
    # The same rule as the PostgreSQL statement (dispatch.live.position_intake._store_sql): an active user
    # in the drivers' group with a driver row.
    driver = f"""
SELECT d.id, d.vehicle_id, d.depot_id FROM {users} u JOIN {drivers} d ON d.user_id = u.id
WHERE u.is_active AND {{who}} AND EXISTS (
    SELECT 1 FROM {groups._meta.db_table} ug JOIN {group_table} g ON g.id = ug.{group_fk}
    WHERE ug.{user_fk} = u.id AND g.name = ?)"""  # nosec B608  # identifiers from code, values as ? parameters
    return {
        "token": driver.format(who=f"u.id = (SELECT t.user_id FROM {Token._meta.db_table} t WHERE t.key = ?)"),  # nosec B608  # the table name from the model, the key a ? parameter
        "user": driver.format(who="u.id = ?"),
        "insert": f"""
INSERT INTO {positions} (driver_id, vehicle_id, lat, lon, recorded_at, received_at, accuracy_m, speed_mps, heading)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",  # nosec B608
        # Decided by the database, as in dispatch.live.positions: a late offline batch never moves it backwards.
        "move": f"""
UPDATE {drivers} SET last_lat = ?, last_lon = ?, last_heading = ?, last_speed_mps = ?, last_position_at = ?
WHERE id = ? AND (last_position_at IS NULL OR last_position_at < ?)""",  # nosec B608
        "session": f"SELECT session_data FROM {Session._meta.db_table} WHERE session_key = ? AND expire_date > ?",  # nosec B608
        "password": session_user_sql(),
    }


class SqliteIntake:
    """The writer thread and its connection; the same coroutines as position_intake._Database."""

    def __init__(self):
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None
        self._sql: dict[str, str] | None = None

    async def _in_writer(self, function, *args):
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="position-intake-sqlite")
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _ready(self) -> sqlite3.Connection:
        """The writer thread's connection, opened as Django opens its own (the same file and pragmas)."""
        if self._connection is None:
            wrapper = connections["default"]  # read only for its settings: never used from this thread
            params = wrapper.get_connection_params()
            params.pop("detect_types", None)  # rows come back as plain values: nothing here parses them
            # isolation_level=None: autocommit, the transaction below is begun and ended explicitly.
            connection = sqlite3.connect(**params, isolation_level=None)
            connection.execute("PRAGMA foreign_keys = ON")
            init_command = wrapper.settings_dict.get("OPTIONS", {}).get("init_command") or ""
            for statement in filter(None, (part.strip() for part in init_command.split(";"))):
                connection.execute(statement).fetchall()
            self._sql = _statements()
            self._connection = connection
        return self._connection

    def _store(self, rows: list[tuple], key: str | None, user_id: int | None):
        connection = self._ready()
        sql = self._sql
        found = connection.execute(
            sql["token"] if key is not None else sql["user"], (key if key is not None else user_id, DRIVER)
        ).fetchall()  # fetchall: a statement left half-read would hold a read lock
        if not found:
            return None
        driver_id, vehicle_id, depot_id = found[0]
        received_at = _sqlite_datetime(datetime.now(UTC))
        newest = max(rows, key=lambda row: row[2])
        newest_at = _sqlite_datetime(newest[2])
        lat, lon, _recorded_at, _accuracy, speed_mps, heading = newest
        # IMMEDIATE: take the write lock now (waiting up to the busy timeout) rather than fail on upgrade.
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.executemany(
                sql["insert"],
                [
                    (driver_id, vehicle_id, row[0], row[1], _sqlite_datetime(row[2]), received_at, *row[3:])
                    for row in rows
                ],
            )
            moved = connection.execute(
                sql["move"], (lat, lon, heading, speed_mps, newest_at, driver_id, newest_at)
            ).rowcount
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:  # SQLite may have rolled back by itself (a full disk)
                connection.execute("ROLLBACK")
            raise
        return driver_id, vehicle_id, depot_id, len(rows), moved == 1

    def _session_user(self, session_key: str) -> tuple[int, str] | None:
        connection = self._ready()
        found = connection.execute(self._sql["session"], (session_key, _sqlite_datetime(datetime.now(UTC)))).fetchall()
        claim = session_claim(found[0][0]) if found else None
        if claim is None:
            return None
        user_id, session_hash = claim
        found = connection.execute(self._sql["password"], (user_id,)).fetchall()
        verified = session_verified(user_id, session_hash, found[0][0] if found else None)
        return None if verified is None else (verified, found[0][1] or "")

    async def store(self, rows: list[tuple], *, key: str | None = None, user_id: int | None = None):
        """Store for the driver of API token `key`, or of user `user_id` (an already verified session):
        (driver id, vehicle id, depot id, positions accepted, latest position moved), None for no driver."""
        return await self._in_writer(self._store, rows, key, user_id)

    async def session_user(self, session_key: str) -> tuple[int, str] | None:
        """(user id, stored language) of the user a browser session logged in, decided as on PostgreSQL."""
        return await self._in_writer(self._session_user, session_key)

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await self._in_writer(connection.close)


database = SqliteIntake()
