"""The few SQL expressions that differ between PostgreSQL and SQLite (the embedded mode).

Everything else in the analytics queries is plain SQL both understand: CTEs, CASE, window
functions (SQLite has had them since 3.25).
"""

from django.db import connection


def seconds_between(later: str, earlier: str) -> str:
    """Seconds from `earlier` to `later` (two timestamp expressions), as a double."""
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM (({later}) - ({earlier}))) AS DOUBLE PRECISION)"
    # SQLite keeps aware datetimes as UTC text; julianday() reads it (days, fractional).
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def is_true(column: str) -> str:
    """A boolean column as a condition (PostgreSQL booleans, SQLite 0/1)."""
    return f"({column} = TRUE)" if connection.vendor == "postgresql" else f"({column} = 1)"
