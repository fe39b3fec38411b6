"""How each KPI is computed in SQL over the per-order facts (analytics_orderfact as `f`).

The measures (aggregates every KPI is finished from), their SELECT lists for one aggregate query or
for a fine grouping that is added up further, the nearest-rank p90 queries, the customer ratings,
and finish_kpis, which turns the raw sums into the public KPI names. analytics.selectors puts these
together into the reads the API and the pages use.
"""

from django.apps import apps
from django.db import connection

from analytics.filters import KpiFilters
from analytics.sql import is_true


def where_clause(filters: KpiFilters, alias: str = "f") -> tuple[str, list]:
    clauses = [f"{alias}.date >= %s", f"{alias}.date <= %s"]
    params: list = [filters.date_from, filters.date_to]
    if filters.depot_ids is not None:
        if not filters.depot_ids:
            clauses.append("1 = 0")
        else:
            clauses.append(f"{alias}.depot_id IN ({', '.join(['%s'] * len(filters.depot_ids))})")
            params.extend(sorted(filters.depot_ids))
    for column, value in (("zone_id", filters.zone_id), ("driver_id", filters.driver_id),
                          ("vehicle_kind", filters.vehicle_kind)):  # fmt: skip
        if value not in (None, ""):
            clauses.append(f"{alias}.{column} = %s")
            params.append(value)
    return " AND ".join(clauses), params


def fetch_rows(sql: str, params: list) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def sum_measures() -> list[tuple[str, str, str]]:
    """The aggregates every KPI is finished from (see finish_kpis): (name, SQL over `f`, how it adds up).

    "int" and "float" are sums and counts (a sum of sums); "mean" is the AVG of the expression,
    which adds up as the sum of its sums over the sum of its counts (see rollup_column).
    """
    t = is_true
    return [
        ("orders", "COUNT(*)", "int"),
        ("deliveries", f"SUM(CASE WHEN {t('f.delivered')} THEN 1 ELSE 0 END)", "int"),
        ("attempted", f"SUM(CASE WHEN {t('f.attempted')} THEN 1 ELSE 0 END)", "int"),
        ("failed_orders", f"SUM(CASE WHEN {t('f.attempted')} AND NOT {t('f.delivered')} THEN 1 ELSE 0 END)", "int"),
        ("failed_attempts", "SUM(f.failed_attempts)", "int"),
        ("first_attempt_successes", f"SUM(CASE WHEN {t('f.first_attempt_success')} THEN 1 ELSE 0 END)", "int"),
        ("on_time", f"SUM(CASE WHEN {t('f.on_time')} THEN 1 ELSE 0 END)", "int"),
        ("on_time_counted", "SUM(CASE WHEN f.on_time IS NOT NULL THEN 1 ELSE 0 END)", "int"),
        ("attempted_without_window",
         f"SUM(CASE WHEN {t('f.attempted')} AND NOT {t('f.has_window')} THEN 1 ELSE 0 END)", "int"),
        ("cancelled", "SUM(CASE WHEN f.status = 'cancelled' THEN 1 ELSE 0 END)", "int"),
        ("avg_delay_s", "f.delay_s", "mean"),
        ("delay_sum_s", "SUM(f.delay_s)", "int"),
        ("delay_count", "COUNT(f.delay_s)", "int"),
        ("eta_mean_abs_error_s", "f.eta_error_s", "mean"),
        ("route_stops", f"SUM(CASE WHEN f.route_id IS NOT NULL AND {t('f.attempted')} THEN 1 ELSE 0 END)", "int"),
        ("cost", "SUM(f.route_cost_share)", "float"),
        ("distance_m", "SUM(f.route_distance_share_m)", "float"),
        ("planned_route_s", "SUM(f.route_planned_share_s)", "float"),
        ("actual_route_s", "SUM(f.route_actual_share_s)", "float"),
    ]  # fmt: skip


def feedback_measures() -> list[tuple[str, str, str]]:
    # COUNT(fb.order_id), not COUNT(*): the page's query LEFT JOINs the ratings (one per order at most).
    return [
        ("csat_avg", "fb.rating", "mean_float"),
        ("feedback_count", "COUNT(fb.order_id)", "int"),
        *((f"rating_{n}", f"SUM(CASE WHEN fb.rating = {n} THEN 1 ELSE 0 END)", "int") for n in range(1, 6)),
    ]


def aggregate_columns(measures) -> str:
    """Measures as one aggregate query's SELECT list."""
    columns = []
    for name, sql, kind in measures:
        if kind == "mean":
            sql = f"AVG({sql})"
        elif kind == "mean_float":
            sql = f"AVG(CAST({sql} AS DOUBLE PRECISION))"
        columns.append(f"{sql} AS {name}")
    return ",\n    ".join(columns)


def cell_columns(measures) -> str:
    """Measures as the SELECT list of a fine grouping that rollup_column adds up further."""
    columns = []
    for name, sql, kind in measures:
        if kind in ("mean", "mean_float"):
            columns += [f"SUM({sql}) AS {name}__sum", f"COUNT({sql}) AS {name}__count"]
        else:
            columns.append(f"{sql} AS {name}")
    return ",\n    ".join(columns)


def rollup_column(name: str, kind: str) -> str:
    """A measure added up from the cells of cell_columns, to the very value the plain aggregate gives."""
    if kind == "float":
        return f"SUM({name}) AS {name}"
    if kind == "int":  # PostgreSQL sums bigints as numeric; the plain aggregate answers a bigint
        return f"CAST(SUM({name}) AS BIGINT) AS {name}"
    total, count = f"SUM({name}__sum)", f"SUM({name}__count)"
    if kind == "mean_float":
        return f"CAST({total} AS DOUBLE PRECISION) / NULLIF({count}, 0) AS {name}"
    # AVG of integers: PostgreSQL divides the numeric sum by the numeric count (int8_avg), SQLite
    # the sum as a double by the count; the same division gives the same value.
    number = "NUMERIC" if connection.vendor == "postgresql" else "REAL"
    return f"CAST({total} AS {number}) / NULLIF(CAST({count} AS {number}), 0) AS {name}"


def sums_columns() -> str:
    return "\n    " + aggregate_columns(sum_measures())


def measure_names(measures) -> tuple[str, ...]:
    return tuple(name for name, _, _ in measures)


def sums_sql(where: str, group: str | None) -> str:
    key = f"{group} AS key, " if group else ""
    group_by = f"GROUP BY {group}" if group else ""
    return f"""
SELECT {key}{sums_columns()}{in_sql_percentiles()}
FROM analytics_orderfact f
WHERE {where}
{group_by}
"""  # nosec B608  # identifiers from code, values as %s parameters


def percentiles_in_sums() -> bool:
    # PostgreSQL's ordered-set aggregate is one sort inside the same scan; SQLite has none, so it
    # gets the window-function query of p90_sql (same nearest-rank definition).
    return connection.vendor == "postgresql"


def in_sql_percentiles() -> str:
    if not percentiles_in_sums():
        return ""
    return "".join(
        f",\n    percentile_disc(0.9) WITHIN GROUP (ORDER BY f.{column}) AS p90_{column}"
        for column in PERCENTILE_COLUMNS
    )


PERCENTILE_COLUMNS = ("delay_s", "eta_error_s")


def p90_sql(where: str, column: str, group: str | None) -> str:
    partition = f"PARTITION BY {group} " if group else ""
    key_select = f"{group} AS key, " if group else ""
    outer_key = "key, " if group else ""
    group_by = "GROUP BY key" if group else ""
    return f"""
SELECT {outer_key}MIN(CASE WHEN position * 10 >= total * 9 THEN value END) AS p90
FROM (
    SELECT {key_select}f.{column} AS value,
           ROW_NUMBER() OVER ({partition}ORDER BY f.{column}) AS position,
           COUNT(*) OVER ({partition.strip()}) AS total
    FROM analytics_orderfact f
    WHERE {where} AND f.{column} IS NOT NULL
) ranked
{group_by}
"""  # nosec B608  # identifiers from code, values as %s parameters


_feedback_table_found: str | None = None


def feedback_table() -> str | None:
    """customers.Feedback's table, or None while that model does not exist."""
    global _feedback_table_found
    if _feedback_table_found:  # a table once there stays; only its absence is looked up again
        return _feedback_table_found
    try:
        model = apps.get_model("customers", "Feedback")
    except LookupError:
        return None
    table = model._meta.db_table
    # The model may exist before its migration has run (customers is being built alongside).
    if table in _existing_tables():
        _feedback_table_found = table
        return table
    return None


def _existing_tables() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def feedback_columns() -> str:
    return aggregate_columns(feedback_measures())


def feedback_sql(where: str, group: str | None, table: str) -> str:
    key = f"{group} AS key, " if group else ""
    group_by = f"GROUP BY {group}" if group else ""
    return f"""
SELECT {key}{feedback_columns()}
FROM {table} fb JOIN analytics_orderfact f ON f.order_id = fb.order_id
WHERE {where}
{group_by}
"""  # nosec B608  # identifiers from code, values as %s parameters


def ratio(part, whole):
    return None if not whole else part / whole


def _average(average, total, count):
    if average is not None:
        return round(float(average), 1)
    return round(float(total) / count, 1) if count else None


def finish_kpis(sums: dict, p90: dict, feedback: dict) -> dict:
    """The public KPI names from the raw sums (rates and per-delivery figures)."""
    deliveries = sums.get("deliveries") or 0
    attempted = sums.get("attempted") or 0
    actual_route_s = sums.get("actual_route_s") or 0
    feedback_count = feedback.get("feedback_count") or 0
    csat = feedback.get("csat_avg")
    result = {
        "orders": sums.get("orders") or 0,
        "deliveries": deliveries,
        "attempted": attempted,
        "failed": sums.get("failed_orders") or 0,
        "failed_attempts": sums.get("failed_attempts") or 0,
        "cancelled": sums.get("cancelled") or 0,
        "on_time_rate": ratio(sums.get("on_time") or 0, sums.get("on_time_counted") or 0),
        "on_time_counted": sums.get("on_time_counted") or 0,
        "attempted_without_window": sums.get("attempted_without_window") or 0,
        "first_attempt_success_rate": ratio(sums.get("first_attempt_successes") or 0, attempted),
        "success_rate": ratio(deliveries, attempted),
        "avg_delay_s": _average(sums.get("avg_delay_s"), sums.get("delay_sum_s"), sums.get("delay_count")),
        "p90_delay_s": p90.get("delay_s"),
        "eta_mean_abs_error_s": (
            None if sums.get("eta_mean_abs_error_s") is None else round(float(sums["eta_mean_abs_error_s"]), 1)
        ),
        "eta_p90_abs_error_s": p90.get("eta_error_s"),
        "cost": round(float(sums.get("cost") or 0), 2),
        "cost_per_delivery": None if not deliveries else round(float(sums.get("cost") or 0) / deliveries, 2),
        "distance_m": round(float(sums.get("distance_m") or 0)),
        "distance_per_delivery_m": None if not deliveries else round(float(sums.get("distance_m") or 0) / deliveries),
        "stops_per_hour": None
        if not actual_route_s
        else round((sums.get("route_stops") or 0) / (actual_route_s / 3600), 2),
        "planned_route_duration_s": round(float(sums.get("planned_route_s") or 0)),
        "actual_route_duration_s": round(float(actual_route_s)),
        "csat_avg": None if csat is None else round(float(csat), 2),
        "feedback_count": feedback_count,
        "csat_distribution": {str(n): feedback.get(f"rating_{n}") or 0 for n in range(1, 6)},
    }
    return result
