"""Reads of the analytics app: KPIs aggregated in the database over OrderFact rows.

Every figure is one SQL aggregate or window function over the facts of the chosen orders
(analytics/facts.py says how a fact is derived). Rates are fractions 0..1; null when nothing
counts towards them (no deliveries, no windowed arrivals). Percentiles use the nearest-rank
method: p90 is the smallest value with at least 90 % of the values at or below it.
"""

from dataclasses import dataclass, replace
from datetime import date, timedelta

from django.apps import apps
from django.db import connection

from analytics.sql import is_true
from dispatch.models import Depot, Driver, Zone
from dispatch.roles import visible_depot_ids

FAILURE_REASONS = ("not_home", "no_access", "refused", "damaged", "wrong_address", "other")


@dataclass(frozen=True)
class KpiFilters:
    date_from: date
    date_to: date
    depot_ids: frozenset[int] | None = None  # None: every depot (managers)
    zone_id: int | None = None
    driver_id: int | None = None
    vehicle_kind: str | None = None

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def previous(self) -> "KpiFilters":
        """The same number of days just before."""
        return replace(
            self, date_from=self.date_from - timedelta(days=self.days), date_to=self.date_from - timedelta(days=1)
        )


def scoped_filters(user, **values) -> KpiFilters:
    """Filters limited to the depots the user may see (a named depot outside them yields nothing)."""
    allowed = visible_depot_ids(user)
    depot_id = values.pop("depot_id", None)
    if depot_id is not None:
        depot_ids = frozenset({depot_id}) if allowed is None or depot_id in allowed else frozenset()
    else:
        depot_ids = None if allowed is None else frozenset(allowed)
    return KpiFilters(depot_ids=depot_ids, **values)


def _where(filters: KpiFilters, alias: str = "f") -> tuple[str, list]:
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


def _rows(sql: str, params: list) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _sums_sql(where: str, group: str | None) -> str:
    t = is_true
    key = f"{group} AS key, " if group else ""
    group_by = f"GROUP BY {group}" if group else ""
    return f"""
SELECT {key}
    COUNT(*) AS orders,
    SUM(CASE WHEN {t("f.delivered")} THEN 1 ELSE 0 END) AS deliveries,
    SUM(CASE WHEN {t("f.attempted")} THEN 1 ELSE 0 END) AS attempted,
    SUM(CASE WHEN {t("f.attempted")} AND NOT {t("f.delivered")} THEN 1 ELSE 0 END) AS failed_orders,
    SUM(f.failed_attempts) AS failed_attempts,
    SUM(CASE WHEN {t("f.first_attempt_success")} THEN 1 ELSE 0 END) AS first_attempt_successes,
    SUM(CASE WHEN {t("f.on_time")} THEN 1 ELSE 0 END) AS on_time,
    SUM(CASE WHEN f.on_time IS NOT NULL THEN 1 ELSE 0 END) AS on_time_counted,
    SUM(CASE WHEN {t("f.attempted")} AND NOT {t("f.has_window")} THEN 1 ELSE 0 END) AS attempted_without_window,
    SUM(CASE WHEN f.status = 'cancelled' THEN 1 ELSE 0 END) AS cancelled,
    AVG(f.delay_s) AS avg_delay_s,
    SUM(f.delay_s) AS delay_sum_s,
    COUNT(f.delay_s) AS delay_count,
    AVG(f.eta_error_s) AS eta_mean_abs_error_s,
    SUM(CASE WHEN f.route_id IS NOT NULL AND {t("f.attempted")} THEN 1 ELSE 0 END) AS route_stops,
    SUM(f.route_cost_share) AS cost,
    SUM(f.route_distance_share_m) AS distance_m,
    SUM(f.route_planned_share_s) AS planned_route_s,
    SUM(f.route_actual_share_s) AS actual_route_s{_in_sql_percentiles()}
FROM analytics_orderfact f
WHERE {where}
{group_by}
"""


def _percentiles_in_sums() -> bool:
    # PostgreSQL's ordered-set aggregate is one sort inside the same scan; SQLite has none, so it
    # gets the window-function query of _p90_sql (same nearest-rank definition).
    return connection.vendor == "postgresql"


def _in_sql_percentiles() -> str:
    if not _percentiles_in_sums():
        return ""
    return "".join(
        f",\n    percentile_disc(0.9) WITHIN GROUP (ORDER BY f.{column}) AS p90_{column}"
        for column in PERCENTILE_COLUMNS
    )


PERCENTILE_COLUMNS = ("delay_s", "eta_error_s")


def _p90_sql(where: str, column: str, group: str | None) -> str:
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
"""


def _feedback_table() -> str | None:
    """customers.Feedback's table, or None while that model does not exist."""
    try:
        model = apps.get_model("customers", "Feedback")
    except LookupError:
        return None
    table = model._meta.db_table
    # The model may exist before its migration has run (customers is being built alongside).
    return table if table in _existing_tables() else None


def _existing_tables() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def _feedback_sql(where: str, group: str | None, table: str) -> str:
    key = f"{group} AS key, " if group else ""
    group_by = f"GROUP BY {group}" if group else ""
    distribution = ", ".join(f"SUM(CASE WHEN fb.rating = {n} THEN 1 ELSE 0 END) AS rating_{n}" for n in range(1, 6))
    return f"""
SELECT {key}AVG(CAST(fb.rating AS DOUBLE PRECISION)) AS csat_avg, COUNT(*) AS feedback_count, {distribution}
FROM {table} fb JOIN analytics_orderfact f ON f.order_id = fb.order_id
WHERE {where}
{group_by}
"""


def _ratio(part, whole):
    return None if not whole else part / whole


def _average(average, total, count):
    if average is not None:
        return round(float(average), 1)
    return round(float(total) / count, 1) if count else None


def _finish(sums: dict, p90: dict, feedback: dict) -> dict:
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
        "on_time_rate": _ratio(sums.get("on_time") or 0, sums.get("on_time_counted") or 0),
        "on_time_counted": sums.get("on_time_counted") or 0,
        "attempted_without_window": sums.get("attempted_without_window") or 0,
        "first_attempt_success_rate": _ratio(sums.get("first_attempt_successes") or 0, attempted),
        "success_rate": _ratio(deliveries, attempted),
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


def kpis(filters: KpiFilters) -> dict:
    """The KPIs of the orders dated in the filters' range (one row of sums, the p90s, the feedback)."""
    where, params = _where(filters)
    sums = _rows(_sums_sql(where, None), params)[0]
    if _percentiles_in_sums():
        p90 = {column: sums[f"p90_{column}"] for column in PERCENTILE_COLUMNS}
    else:
        p90 = {column: _rows(_p90_sql(where, column, None), params)[0]["p90"] for column in PERCENTILE_COLUMNS}
    table = _feedback_table()
    feedback = _rows(_feedback_sql(where, None, table), params)[0] if table else {}
    result = _finish(sums, p90, feedback)
    result["failure_reasons"] = failure_reasons(filters)
    result["csat_available"] = table is not None
    return result


def kpis_grouped(filters: KpiFilters, group: str) -> dict:
    """KPIs per value of a fact column ("f.date", "f.driver_id", "f.zone_id", ...), keyed by it."""
    where, params = _where(filters)
    sums = {row["key"]: row for row in _rows(_sums_sql(where, group), params)}
    if _percentiles_in_sums():
        p90s = {column: {key: row[f"p90_{column}"] for key, row in sums.items()} for column in PERCENTILE_COLUMNS}
    else:
        p90s = {
            column: {row["key"]: row["p90"] for row in _rows(_p90_sql(where, column, group), params)}
            for column in PERCENTILE_COLUMNS
        }
    table = _feedback_table()
    feedback = {row["key"]: row for row in _rows(_feedback_sql(where, group, table), params)} if table else {}
    return {
        key: _finish(row, {column: p90s[column].get(key) for column in p90s}, feedback.get(key, {}))
        for key, row in sums.items()
    }


def failure_reasons(filters: KpiFilters) -> dict[str, int]:
    """Orders with a failed attempt, by the reason of their latest failure."""
    where, params = _where(filters)
    rows = _rows(
        f"SELECT f.last_failure_reason AS reason, COUNT(*) AS count FROM analytics_orderfact f "
        f"WHERE {where} AND f.failed_attempts > 0 GROUP BY f.last_failure_reason",
        params,
    )
    counts = {row["reason"] or "other": 0 for row in rows}
    for row in rows:
        counts[row["reason"] or "other"] += row["count"]
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def _change(current, previous):
    if current is None or previous is None:
        return None
    return current - previous


COMPARED = (
    "deliveries", "on_time_rate", "first_attempt_success_rate", "avg_delay_s", "p90_delay_s", "cost_per_delivery",
    "distance_per_delivery_m", "stops_per_hour", "eta_mean_abs_error_s", "csat_avg", "feedback_count",
)  # fmt: skip


def kpis_compare(filters: KpiFilters) -> dict:
    """This period's KPIs, the previous period's (same length, just before) and the differences."""
    current, previous = kpis(filters), kpis(filters.previous())
    return {
        "current": current,
        "previous": previous,
        "change": {name: _change(current[name], previous[name]) for name in COMPARED},
        "previous_from": filters.previous().date_from,
        "previous_to": filters.previous().date_to,
    }


def _iso_week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def daily_trend(filters: KpiFilters, sums: list[dict] | None = None) -> list[dict]:
    """One row per day of the range (days without orders included, with zeros); no percentiles or ratings."""
    sums = daily_sums(filters) if sums is None else sums
    by_day = {row["key"]: _finish(row, {}, {}) for row in sums}
    by_day = {(key if isinstance(key, date) else date.fromisoformat(str(key))): row for key, row in by_day.items()}
    empty = _finish({}, {}, {})
    return [{"date": filters.date_from + timedelta(days=n), **by_day.get(filters.date_from + timedelta(days=n), empty)}
            for n in range(filters.days)]  # fmt: skip


def daily_sums(filters: KpiFilters) -> list[dict]:
    """The raw per-day sums (one grouped scan), shared by the daily and the weekly trend."""
    where, params = _where(filters)
    return _rows(_sums_sql(where, "f.date"), params)


def weekly_trend(filters: KpiFilters, sums: list[dict] | None = None) -> list[dict]:
    """Weeks (Monday first) of the range; rates from the week's sums, not averages of daily rates."""
    # A week start per row in SQL would need dialect code; the 7-day buckets are cheap to build
    # from the daily sums (at most a few hundred rows), so the daily rows are summed here.
    sums = daily_sums(filters) if sums is None else sums
    weeks: dict[date, dict] = {}
    for row in sums:
        day = row["key"] if isinstance(row["key"], date) else date.fromisoformat(str(row["key"]))
        week = weeks.setdefault(_iso_week_start(day), {})
        for name, value in row.items():
            if name == "key" or value is None:
                continue
            if name in ("avg_delay_s", "eta_mean_abs_error_s") or name.startswith("p90_"):
                continue
            week[name] = week.get(name, 0) + value
    start, result = _iso_week_start(filters.date_from), []
    while start <= filters.date_to:
        result.append({"week": start, **_finish(weeks.get(start, {}), {}, {})})
        start += timedelta(days=7)
    return result


def driver_table(filters: KpiFilters) -> list[dict]:
    rows = kpis_grouped(filters, "f.driver_id")
    names = dict(Driver.objects.filter(id__in=[k for k in rows if k]).values_list("id", "name"))
    table = [{"id": key, "name": names.get(key, "No driver"), **row} for key, row in rows.items()]
    return sorted(table, key=lambda row: (row["id"] is None, row["name"]))


def zone_table(filters: KpiFilters) -> list[dict]:
    rows = kpis_grouped(filters, "f.zone_id")
    names = dict(Zone.objects.filter(id__in=[k for k in rows if k]).values_list("id", "name"))
    table = [{"id": key, "name": names.get(key, "No zone"), **row} for key, row in rows.items()]
    return sorted(table, key=lambda row: (row["id"] is None, row["name"]))


def lateness_points(filters: KpiFilters, *, limit: int = 1500) -> list[dict]:
    """Attempted orders with their lateness, the latest first (the map shows at most `limit`)."""
    where, params = _where(filters)
    rows = _rows(
        f"""SELECT o.id, o.reference, o.lat, o.lon, o.address, f.date, f.delay_s, f.on_time, f.delivered,
                   f.last_failure_reason
            FROM analytics_orderfact f JOIN dispatch_order o ON o.id = f.order_id
            WHERE {where} AND {is_true("f.attempted")}
            ORDER BY f.date DESC, f.order_id DESC LIMIT {int(limit)}""",
        params,
    )
    return rows


def depots_for(user):
    allowed = visible_depot_ids(user)
    depots = Depot.objects.all()
    return depots if allowed is None else depots.filter(id__in=allowed)


EXPORT_COLUMNS = (
    "reference", "date", "depot", "zone", "status", "driver", "vehicle_kind", "window_start", "window_end",
    "planned_arrival", "actual_arrival", "delivered_at", "on_time", "delay_s", "eta_error_s", "failed_attempts",
    "last_failure_reason",
)  # fmt: skip
_EXPORT_FIELDS = (
    "id", "reference", "date", "depot__code", "zone__code", "status", "analytics_fact__driver_id",
    "analytics_fact__vehicle_kind", "window_start", "window_end", "analytics_fact__promised_eta",
    "analytics_fact__arrived_at", "analytics_fact__delivered_at", "analytics_fact__on_time",
    "analytics_fact__delay_s", "analytics_fact__eta_error_s", "analytics_fact__failed_attempts",
    "analytics_fact__last_failure_reason",
)  # fmt: skip


def export_rows(filters: KpiFilters, *, after_id: int = 0, limit: int = 2000) -> list[tuple]:
    """A page of export rows (one per order, ordered by id, after `after_id`): keyset paging, no cursor held."""
    from dispatch.models import Order

    orders = Order.objects.filter(date__gte=filters.date_from, date__lte=filters.date_to, id__gt=after_id)
    if filters.depot_ids is not None:
        orders = orders.filter(depot_id__in=filters.depot_ids)
    if filters.zone_id:
        orders = orders.filter(zone_id=filters.zone_id)
    if filters.driver_id:
        orders = orders.filter(analytics_fact__driver_id=filters.driver_id)
    if filters.vehicle_kind:
        orders = orders.filter(analytics_fact__vehicle_kind=filters.vehicle_kind)
    return list(orders.order_by("id").values_list(*_EXPORT_FIELDS)[:limit])
