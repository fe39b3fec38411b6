"""Extended statistics for the analytics page's groupings of facts (PostgreSQL only).

The page adds the facts up into cells of (date, driver, zone, last failure reason), and counts
delays and ETA errors per driver, zone and minute for the p90s (analytics/selectors.py). Without
these statistics PostgreSQL multiplies the columns' distinct counts, expects 15-20 times the real
number of groups, and sorts the facts (on disk) instead of hashing them into a few thousand
groups. benchmarks/ANALYTICS.md has the figures. Statistics on expressions need PostgreSQL 14.
"""

from django.db import migrations

STATISTICS = {
    "order_fact_cells": "date, driver_id, zone_id, last_failure_reason",
    "order_fact_delay_minutes": "driver_id, zone_id, (delay_s / 60)",
    "order_fact_eta_minutes": "driver_id, zone_id, (eta_error_s / 60)",
}


def create(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    for name, columns in STATISTICS.items():
        if "(" in columns and connection.pg_version < 140000:
            continue
        schema_editor.execute(
            f"CREATE STATISTICS IF NOT EXISTS {name} (ndistinct) ON {columns} FROM analytics_orderfact"
        )
    # Statistics are gathered by ANALYZE (autovacuum does it later; a big table wants it now).
    schema_editor.execute("ANALYZE analytics_orderfact")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in STATISTICS:
            schema_editor.execute(f"DROP STATISTICS IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_order_facts")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
