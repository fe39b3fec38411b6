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


def shifted(column: str, seconds: int) -> str:
    """A timestamp column moved by a constant number of seconds, still usable by an index range."""
    if connection.vendor == "postgresql":
        return f"({column} + INTERVAL '{int(seconds)} seconds')"
    return f"datetime({column}, '{int(seconds):+d} seconds')"


def materialized() -> str:
    """`AS MATERIALIZED` for a CTE on PostgreSQL: computed once, never re-run per outer row.

    PostgreSQL misestimates the orders-to-stops join (one row instead of hundreds) and would
    otherwise re-aggregate each route's activity for every order. SQLite computes CTEs once anyway.
    """
    return "MATERIALIZED" if connection.vendor == "postgresql" else ""
