"""Set up Django for a benchmark against a throw-away database.

No DATABASE_URL: a SQLite file in a temporary VAR_DIR. A postgres:// URL: the named database is
created when missing and emptied by `migrate` + flush, so a benchmark never touches real data.
"""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(database_url: str | None, *, scratch_commits: bool = False) -> None:
    """``scratch_commits``: the throw-away PostgreSQL database commits without waiting for its WAL to
    reach the disk (synchronous_commit=off: a crash may lose the last fraction of a second of writes,
    never corrupt them), for a benchmark that writes a simulated history rather than timing writes."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.pop("REDIS_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
        _create_postgres_database(database_url, scratch_commits=scratch_commits)
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="bench-")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)


def _create_postgres_database(url: str, *, scratch_commits: bool = False) -> None:
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        setting = sql.SQL("SET synchronous_commit TO off" if scratch_commits else "RESET synchronous_commit")
        connection.execute(sql.SQL("ALTER DATABASE {} ").format(sql.Identifier(name)) + setting)


def describe_database() -> str:
    from django.db import connection

    return f"{connection.vendor} {'.'.join(map(str, connection.get_database_version()))}"
