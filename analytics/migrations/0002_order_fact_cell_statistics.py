"""Extended statistics for the analytics page's grouping of facts (PostgreSQL only).

The page adds the facts up into cells of (date, driver, zone, last failure reason). Without
these statistics PostgreSQL multiplies the columns' distinct counts and expects ~20 times the
real number of cells; it then sorts the facts (on disk) instead of hashing them into a few
thousand cells. benchmarks/ANALYTICS.md has the figures.
"""

from django.db import migrations

CREATE = (
    "CREATE STATISTICS IF NOT EXISTS order_fact_cells (ndistinct) "
    "ON date, driver_id, zone_id, last_failure_reason FROM analytics_orderfact"
)
DROP = "DROP STATISTICS IF EXISTS order_fact_cells"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)
        # Statistics are gathered by ANALYZE (autovacuum does it later; a big table wants it now).
        schema_editor.execute("ANALYZE analytics_orderfact")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_order_facts")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
