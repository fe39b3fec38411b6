"""Reads of the analytics app: KPIs aggregated in the database over OrderFact rows.

Every figure is one SQL aggregate or window function over the facts of the chosen orders
(analytics/facts.py says how a fact is derived). Rates are fractions 0..1; null when nothing
counts towards them (no deliveries, no windowed arrivals). Percentiles use the nearest-rank
method: p90 is the smallest value with at least 90 % of the values at or below it.
"""

import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.cache import cache
from django.db import connection

from analytics import fact_versions, kpi_sql
from analytics.filters import KpiFilters
from analytics.sql import is_true
from dispatch.models import Depot, Driver, Order, Zone
from dispatch.roles import visible_depot_ids

logger = logging.getLogger(__name__)

FAILURE_REASONS = ("not_home", "no_access", "refused", "damaged", "wrong_address", "other")


def scoped_filters(user, **values) -> KpiFilters:
    """Filters limited to the depots the user may see (a named depot outside them yields nothing)."""
    allowed = visible_depot_ids(user)
    depot_id = values.pop("depot_id", None)
    if depot_id is not None:
        depot_ids = frozenset({depot_id}) if allowed is None or depot_id in allowed else frozenset()
    else:
        depot_ids = None if allowed is None else frozenset(allowed)
    return KpiFilters(depot_ids=depot_ids, **values)


def kpis(filters: KpiFilters) -> dict:
    """The KPIs of the orders dated in the filters' range (one row of sums, the p90s, the feedback)."""
    table = kpi_sql.feedback_table()
    return _kpis_from(_fact_figures(filters), _feedback_totals(filters, table), table)


def _fact_figures(filters: KpiFilters) -> dict:
    """What kpis() reads from the facts alone: the sums, the p90s and the failure reasons."""
    where, params = kpi_sql.where_clause(filters)
    sums = kpi_sql.fetch_rows(kpi_sql.sums_sql(where, None), params)[0]
    if kpi_sql.percentiles_in_sums():
        p90 = {column: sums[f"p90_{column}"] for column in kpi_sql.PERCENTILE_COLUMNS}
    else:
        p90 = {
            column: kpi_sql.fetch_rows(kpi_sql.p90_sql(where, column, None), params)[0]["p90"]
            for column in kpi_sql.PERCENTILE_COLUMNS
        }
    sums = {name: sums[name] for name in kpi_sql.measure_names(kpi_sql.sum_measures())}
    return {"sums": sums, "p90": p90, "failure_reasons": failure_reasons(filters)}


def _feedback_totals(filters: KpiFilters, table: str | None) -> dict:
    if table is None:
        return {}
    where, params = kpi_sql.where_clause(filters)
    return kpi_sql.fetch_rows(kpi_sql.feedback_sql(where, None, table), params)[0]


def _kpis_from(figures: dict, feedback: dict, table: str | None) -> dict:
    result = kpi_sql.finish_kpis(figures["sums"], figures["p90"], feedback)
    result["failure_reasons"] = dict(figures["failure_reasons"])
    result["csat_available"] = table is not None
    return result


# How long figures of a past period stay cached at most. Rebuilds already invalidate them (see
# analytics/fact_versions.py); the limit covers facts removed without a rebuild (an order deleted).
PAST_PERIOD_CACHE_S = 3600


def kpis_of_past_period(filters: KpiFilters) -> dict:
    """kpis(filters), with the facts' figures cached until a day of the range is rebuilt.

    Meant for the comparison period, whose days rarely change. Ratings are always read: customers
    rate after delivery, and a rating counts as soon as it is sent.
    """
    table = kpi_sql.feedback_table()
    if not fact_versions.is_shared_cache():
        return kpis(filters)
    try:
        versions = fact_versions.day_versions(filters.date_from, filters.date_to)  # before reading the facts
        key = "analytics:fact-figures:" + hashlib.sha256(repr((_filters_key(filters), versions)).encode()).hexdigest()
        figures = cache.get(key)
    except Exception:  # noqa: BLE001 - a cache outage costs a query, not the page
        logger.warning("analytics cache unavailable; reading the facts", exc_info=True)
        return kpis(filters)
    if figures is None:
        figures = _fact_figures(filters)
        try:
            cache.set(key, figures, PAST_PERIOD_CACHE_S)
        except Exception:  # noqa: BLE001 - as above
            logger.warning("analytics cache unavailable; figures not cached", exc_info=True)
    return _kpis_from(figures, _feedback_totals(filters, table), table)


def _filters_key(filters: KpiFilters) -> tuple:
    depots = None if filters.depot_ids is None else tuple(sorted(filters.depot_ids))
    return (filters.date_from.isoformat(), filters.date_to.isoformat(), depots, filters.zone_id, filters.driver_id,
            filters.vehicle_kind or None)  # fmt: skip


def kpis_grouped(filters: KpiFilters, group: str) -> dict:
    """KPIs per value of a fact column ("f.date", "f.driver_id", "f.zone_id", ...), keyed by it."""
    where, params = kpi_sql.where_clause(filters)
    sums = {row["key"]: row for row in kpi_sql.fetch_rows(kpi_sql.sums_sql(where, group), params)}
    if kpi_sql.percentiles_in_sums():
        p90s = {
            column: {key: row[f"p90_{column}"] for key, row in sums.items()} for column in kpi_sql.PERCENTILE_COLUMNS
        }
    else:
        p90s = {
            column: {
                row["key"]: row["p90"] for row in kpi_sql.fetch_rows(kpi_sql.p90_sql(where, column, group), params)
            }
            for column in kpi_sql.PERCENTILE_COLUMNS
        }
    table = kpi_sql.feedback_table()
    feedback = (
        {row["key"]: row for row in kpi_sql.fetch_rows(kpi_sql.feedback_sql(where, group, table), params)}
        if table
        else {}
    )
    return {
        key: kpi_sql.finish_kpis(row, {column: p90s[column].get(key) for column in p90s}, feedback.get(key, {}))
        for key, row in sums.items()
    }


# The groupings of the analytics page, each a fact column; "total" is the whole range.
PAGE_GROUPINGS = ("date", "driver_id", "zone_id", "last_failure_reason")


@dataclass(frozen=True)
class PageFigures:
    """Everything the analytics page shows of its period, each equal to its one-query selector."""

    totals: dict  # kpis(filters)
    daily_sums: list[dict]  # daily_sums(filters): the daily and weekly trends are built from them
    by_driver: dict  # kpis_grouped(filters, "f.driver_id")
    by_zone: dict  # kpis_grouped(filters, "f.zone_id")


def page_figures(filters: KpiFilters) -> PageFigures:
    """The page's totals, days, drivers, zones and failure reasons in one scan of the facts; the p90s in two more.

    PostgreSQL adds the groupings up with GROUPING SETS; SQLite (embedded mode) has none and adds
    the same cells up once per grouping (UNION ALL), with the same results. The p90s are counted
    apart (_page_percentiles): percentiles do not add up from cells, and an ordered-set aggregate
    among the sums would make PostgreSQL sort every fact once per grouping instead of hashing.
    """
    where, params = kpi_sql.where_clause(filters)
    table = kpi_sql.feedback_table()
    rows = kpi_sql.fetch_rows(_page_sums_sql(where, table), params)
    p90s = _page_percentiles(filters)
    by_grouping: dict[str, list[dict]] = {grouping: [] for grouping in ("total", *PAGE_GROUPINGS)}
    for row in rows:
        by_grouping[row["grouping"]].append(row)

    sum_names, feedback_names = (
        kpi_sql.measure_names(kpi_sql.sum_measures()),
        kpi_sql.measure_names(kpi_sql.feedback_measures()),
    )

    def sums(row):
        return {name: row[name] for name in sum_names}

    def feedback(row):
        return {name: row[name] for name in feedback_names} if table else {}

    total = by_grouping["total"][0]
    reasons = _failure_counts((row["last_failure_reason"], row["orders_with_failures"])
                              for row in by_grouping["last_failure_reason"])  # fmt: skip
    totals = _kpis_from({"sums": sums(total), "p90": p90s.get(("total", None), {}), "failure_reasons": reasons},
                        feedback(total), table)  # fmt: skip
    return PageFigures(
        totals=totals,
        daily_sums=[{"key": row["date"], **sums(row)} for row in by_grouping["date"]],
        by_driver={row["driver_id"]: kpi_sql.finish_kpis(sums(row), p90s.get(("driver_id", row["driver_id"]), {}), feedback(row))
                   for row in by_grouping["driver_id"]},
        by_zone={row["zone_id"]: kpi_sql.finish_kpis(sums(row), p90s.get(("zone_id", row["zone_id"]), {}), feedback(row))
                 for row in by_grouping["zone_id"]},
    )  # fmt: skip


def _page_sums_sql(where: str, table: str | None) -> str:
    """The page's sums: one scan into cells (a day, driver, zone and failure reason each), then every grouping.

    The cells are a few thousand rows for a quarter of a million facts, so adding them up once
    per grouping is cheap, where aggregating the facts once per grouping (even with GROUPING SETS)
    costs a whole scan's work each time. The sums of the cells are the sums of the facts, and the
    averages are rebuilt from sums and counts the way AVG() divides them (kpi_sql.rollup_column).
    """
    measures = kpi_sql.sum_measures() + [("orders_with_failures", "SUM(CASE WHEN f.failed_attempts > 0 THEN 1 ELSE 0 END)",
                                   "int")]  # fmt: skip
    measures += kpi_sql.feedback_measures() if table else []
    source = "analytics_orderfact f" + (f" LEFT JOIN {table} fb ON fb.order_id = f.order_id" if table else "")
    cells = f"""SELECT {", ".join(f"f.{name} AS {name}" for name in PAGE_GROUPINGS)},
    {kpi_sql.cell_columns(measures)}
FROM {source}
WHERE {where}
GROUP BY {", ".join(f"f.{name}" for name in PAGE_GROUPINGS)}"""  # nosec B608  # identifiers from code, values as %s parameters
    rollup = ",\n    ".join(kpi_sql.rollup_column(name, kind) for name, _, kind in measures)
    if connection.vendor == "postgresql":
        # GROUPING(x) = 0 in the rows grouped by x; a NULL key (no driver) is then a real group.
        label = " ".join(f"WHEN GROUPING({name}) = 0 THEN '{name}'" for name in PAGE_GROUPINGS)
        sets = ", ".join(["()", *(f"({name})" for name in PAGE_GROUPINGS)])
        return f"""
SELECT CASE {label} ELSE 'total' END AS grouping, {", ".join(PAGE_GROUPINGS)},
    {rollup}
FROM ({cells}) cells
GROUP BY GROUPING SETS ({sets})
"""  # nosec B608  # identifiers from code, values as %s parameters
    # SQLite has no GROUPING SETS: the same sums once per grouping over the same cells.
    selects = []
    for grouping in ("total", *PAGE_GROUPINGS):
        keys = ", ".join(name if name == grouping else f"NULL AS {name}" for name in PAGE_GROUPINGS)
        group_by = f"GROUP BY {grouping}" if grouping != "total" else ""
        selects.append(f"SELECT '{grouping}' AS grouping, {keys},\n    {rollup}\nFROM cells\n{group_by}")  # nosec B608  # identifiers from code, values as %s parameters
    return f"WITH cells AS ({cells})\n" + "\nUNION ALL\n".join(selects)


# Width of the histogram buckets the page's p90s are found with, in seconds (see _page_percentiles).
# analytics/migrations/0002 gives PostgreSQL statistics on (delay_s / 60): change both together.
P90_BUCKET_S = 60


def _page_percentiles(filters: KpiFilters) -> dict[tuple, dict]:
    """{(grouping, key): {column: p90}} of the delays and ETA errors: the whole range, each driver, each zone.

    The same nearest-rank values percentile_disc(0.9) gives, found without sorting every fact per
    group (PostgreSQL's ordered-set aggregate sorted 250k values six times: the page's slowest
    part). Both are counts in hash tables: first how many values each minute holds, per driver
    and zone; then, for the minute holding each group's 90th-percentile rank only, how many
    each second value of it holds. Delays and ETA errors are whole seconds, never negative.
    """
    where, params = kpi_sql.where_clause(filters)
    per_minute = _grouped_counts(_value_counts(where, params, bucket=P90_BUCKET_S))
    targets: dict[tuple, tuple[int, int]] = {}  # (grouping, key, column) -> (minute, values below it)
    for group, counts in per_minute.items():
        total, below = sum(counts.values()), 0
        for minute in sorted(counts):
            if (below + counts[minute]) * 10 >= total * 9:
                targets[group] = (minute, below)
                break
            below += counts[minute]
    wanted = {column: sorted({minute for (_, _, c), (minute, _) in targets.items() if c == column})
              for column in kpi_sql.PERCENTILE_COLUMNS}  # fmt: skip
    seconds = _grouped_counts(_value_counts(where, params, bucket=1, minutes=wanted)) if targets else {}
    result: dict[tuple, dict] = {}
    for (grouping, key, column), (minute, below) in targets.items():
        total = sum(per_minute[(grouping, key, column)].values())
        counts = seconds[(grouping, key, column)]
        for value in sorted(v for v in counts if v // P90_BUCKET_S == minute):
            below += counts[value]
            if below * 10 >= total * 9:
                result.setdefault((grouping, key), {})[column] = value
                break
    return result


def _value_counts(where: str, params: list, *, bucket: int, minutes: dict | None = None) -> list[dict]:
    """How many facts of each driver and zone hold each value // bucket of delay_s and of eta_error_s.

    `minutes`: {column: [minute, ...]}: only values in those minutes. Rows with a NULL value are
    left out by the caller (_grouped_counts).
    """
    conditions = {column: f"f.{column} IS NOT NULL" for column in kpi_sql.PERCENTILE_COLUMNS}
    if minutes is not None:
        conditions = {
            column: f"f.{column} / {P90_BUCKET_S} IN ({', '.join(str(int(m)) for m in minutes[column])})"
            for column in kpi_sql.PERCENTILE_COLUMNS
            if minutes[column]
        }
    values = {column: f"f.{column}" if bucket == 1 else f"f.{column} / {bucket}" for column in conditions}
    if connection.vendor == "postgresql":  # one scan for both columns
        value = " ".join(f"WHEN GROUPING({expression}) = 0 THEN {expression}" for expression in values.values())
        measure = " ".join(f"WHEN GROUPING({expression}) = 0 THEN '{column}'" for column, expression in values.items())
        sets = ", ".join(f"(f.driver_id, f.zone_id, {expression})" for expression in values.values())
        return kpi_sql.fetch_rows(
            f"""SELECT CASE {measure} END AS measure, f.driver_id AS driver_id, f.zone_id AS zone_id,
                       CASE {value} END AS value, COUNT(*) AS count
                FROM analytics_orderfact f WHERE {where} AND ({" OR ".join(conditions.values())})
                GROUP BY GROUPING SETS ({sets})""",  # nosec B608  # identifiers from code, values as %s parameters
            params,
        )
    selects = [
        f"SELECT '{column}' AS measure, f.driver_id AS driver_id, f.zone_id AS zone_id, {expression} AS value, "
        f"COUNT(*) AS count FROM analytics_orderfact f WHERE {where} AND {conditions[column]} "
        f"GROUP BY f.driver_id, f.zone_id, {expression}"  # nosec B608  # identifiers from code, values as %s parameters
        for column, expression in values.items()
    ]
    return kpi_sql.fetch_rows(" UNION ALL ".join(selects), params * len(selects))


def _grouped_counts(rows: list[dict]) -> dict[tuple, dict[int, int]]:
    """Value counts per (grouping, key, column): the whole range, each driver and each zone."""
    groups: dict[tuple, dict[int, int]] = {}
    for row in rows:
        column, value, count = row["measure"], row["value"], row["count"]
        if value is None:  # facts without that figure (no window, no arrival)
            continue
        for grouping, key in (("total", None), ("driver_id", row["driver_id"]), ("zone_id", row["zone_id"])):
            counts = groups.setdefault((grouping, key, column), {})
            counts[value] = counts.get(value, 0) + count
    return groups


def failure_reasons(filters: KpiFilters) -> dict[str, int]:
    """Orders with a failed attempt, by the reason of their latest failure."""
    where, params = kpi_sql.where_clause(filters)
    rows = kpi_sql.fetch_rows(
        f"SELECT f.last_failure_reason AS reason, COUNT(*) AS count FROM analytics_orderfact f "
        f"WHERE {where} AND f.failed_attempts > 0 GROUP BY f.last_failure_reason",  # nosec B608  # identifiers from code, values as %s parameters
        params,
    )
    return _failure_counts((row["reason"], row["count"]) for row in rows)


def _failure_counts(counted) -> dict[str, int]:
    """(reason, orders) pairs as {reason: orders}, most frequent first; a blank reason is "other"."""
    counts: dict[str, int] = {}
    for reason, count in counted:
        if count:
            counts[reason or "other"] = counts.get(reason or "other", 0) + count
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _change(current, previous):
    if current is None or previous is None:
        return None
    return current - previous


COMPARED = (
    "deliveries", "on_time_rate", "first_attempt_success_rate", "avg_delay_s", "p90_delay_s", "cost_per_delivery",
    "distance_per_delivery_m", "stops_per_hour", "eta_mean_abs_error_s", "csat_avg", "feedback_count",
)  # fmt: skip


def kpis_compare(filters: KpiFilters, current: dict | None = None) -> dict:
    """This period's KPIs, the previous period's (same length, just before) and the differences.

    `current`: this period's kpis() when the caller has them already (the page's grouped query).
    """
    current = kpis(filters) if current is None else current
    previous = kpis_of_past_period(filters.previous())
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
    by_day = {row["key"]: kpi_sql.finish_kpis(row, {}, {}) for row in sums}
    by_day = {(key if isinstance(key, date) else date.fromisoformat(str(key))): row for key, row in by_day.items()}
    empty = kpi_sql.finish_kpis({}, {}, {})
    return [{"date": filters.date_from + timedelta(days=n), **by_day.get(filters.date_from + timedelta(days=n), empty)}
            for n in range(filters.days)]  # fmt: skip


def daily_sums(filters: KpiFilters) -> list[dict]:
    """The raw per-day sums (one grouped scan), shared by the daily and the weekly trend."""
    where, params = kpi_sql.where_clause(filters)
    return kpi_sql.fetch_rows(kpi_sql.sums_sql(where, "f.date"), params)


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
        result.append({"week": start, **kpi_sql.finish_kpis(weeks.get(start, {}), {}, {})})
        start += timedelta(days=7)
    return result


def driver_table(filters: KpiFilters, rows: dict | None = None) -> list[dict]:
    """Per-driver KPIs with names; `rows`: kpis_grouped(filters, "f.driver_id") when already read."""
    rows = kpis_grouped(filters, "f.driver_id") if rows is None else rows
    names = dict(Driver.objects.filter(id__in=[k for k in rows if k]).values_list("id", "name"))
    table = [{"id": key, "name": names.get(key, "No driver"), **row} for key, row in rows.items()]
    return sorted(table, key=lambda row: (row["id"] is None, row["name"]))


def zone_table(filters: KpiFilters, rows: dict | None = None) -> list[dict]:
    """Per-zone KPIs with names; `rows`: kpis_grouped(filters, "f.zone_id") when already read."""
    rows = kpis_grouped(filters, "f.zone_id") if rows is None else rows
    names = dict(Zone.objects.filter(id__in=[k for k in rows if k]).values_list("id", "name"))
    table = [{"id": key, "name": names.get(key, "No zone"), **row} for key, row in rows.items()]
    return sorted(table, key=lambda row: (row["id"] is None, row["name"]))


# The map draws at most this many deliveries: enough to see where lateness gathers, few enough
# for the map document to stay small and for a browser to draw it at once.
MAP_POINTS_CAP = 1500
# Knuth's multiplicative hash of an order id: a fixed pseudo-random rank in 0 .. 2^32 - 1.
_RANK = "((f.order_id * 2654435761) %% 4294967296)"


def lateness_points(filters: KpiFilters, *, attempted: int, limit: int = MAP_POINTS_CAP) -> list[dict]:
    """Attempted orders with their lateness: all of them, or a sample of `limit` over the whole range.

    `attempted`: how many attempted orders the filters hold (kpis()["attempted"]). The sample is
    the `limit` orders of lowest hash rank, so every day, zone and driver is drawn in proportion
    and the same filters always show the same dots (the latest orders alone would show a day).
    """
    where, params = kpi_sql.where_clause(filters)
    sample = ""
    # Only ranks below a bound reach the sort. About limit + 4 standard deviations of the orders
    # pass it, so fewer than `limit` do only by a 1-in-30,000 chance (and small ranges skip it).
    share = (limit + 4 * math.sqrt(limit) + 10) / max(attempted, 1)
    if share < 1:
        sample = f"AND {_RANK} < {math.ceil(2**32 * share)}"
    return kpi_sql.fetch_rows(
        f"""SELECT o.id, o.reference, o.lat, o.lon, o.address, f.date, f.delay_s, f.on_time, f.delivered,
                   f.last_failure_reason
            FROM analytics_orderfact f JOIN dispatch_order o ON o.id = f.order_id
            WHERE {where} AND {is_true("f.attempted")} {sample}
            ORDER BY {_RANK}, f.order_id LIMIT {int(limit)}""",  # nosec B608  # identifiers from code, values as %s parameters
        params,
    )


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
