"""A covering index for the analytics page's p90 counts (PostgreSQL; SQLite gets a plain index).

analytics.selectors._value_counts then reads the index alone (an index-only scan over a fraction
of the bytes of the table's rows): 100-150 ms -> 60-75 ms and 50-85 ms -> 31-34 ms for its two
queries on 246,510 facts (benchmarks/ANALYTICS.md). Widening order_fact_date_depot instead made
PostgreSQL choose a whole-table scan for the page's other queries.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("analytics", "0002_order_fact_cell_statistics")]

    operations = [
        migrations.AddIndex(
            model_name="orderfact",
            index=models.Index(
                fields=["date", "depot_id"],
                include=("driver_id", "zone_id", "vehicle_kind", "delay_s", "eta_error_s"),
                name="order_fact_p90_counts",
            ),
        ),
    ]
