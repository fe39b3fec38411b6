"""ETA accuracy (issue 18): how far the ETAs we gave were from the arrivals, and whether the windows we
promised held, per day and per travel model version; what the model learned (speeds, doorstep).

Definitions (the page says the same on hover):

- An arrival is the fact's `arrived_at` (the last attempt's 'arrived' change, or its 'failed' change
  when the driver never tapped "arrived"); orders never attempted do not count.
- Horizons of the ETA measured against it:
  - `dispatch`: the stop's ETA in the plan as dispatched (OrderFact.promised_eta: eta_error_s);
  - `hour`: the live ETA held about an hour before the arrival (Stop.hour_before_eta of the fact's
    route: the first live ETA computed 45 to 60 minutes ahead of the arrival it predicted,
    dispatch.live.eta); none for a stop whose live ETAs began closer than that (the first stops of
    a route) or whose phone sent no position then;
  - `live`: the last live ETA the app held before the arrival (ArrivalEta.live_eta, kept at the
    arrival by analytics.services.arrival_eta_record; none when no live ETA was computed, e.g. a
    phone that sent no position).
- Error: |arrival - ETA| in seconds; mean and p90 (nearest rank, as every p90 of this app).
- Window coverage: the share of arrivals inside the window the customer was last told before it
  (PromisedWindow.told_start..told_end; the window itself when nothing was told). `moved` is the share
  of those promises that a delay moved after the first one (told revision > 1): coverage with many
  moved promises is a kept word, not an accurate plan.
- Model version: the travel model the dispatched plan was computed with (Plan.travel_model_version;
  none: the OSM defaults).

Plain SQL over analytics_orderfact and the tables it names, on PostgreSQL and SQLite alike; the
figures are added up in Python from one row per arrival (a quarter of a year is ~30,000 rows here).
"""

import math
import statistics
from collections import defaultdict

import numpy as np
from django.conf import settings

from analytics import kpi_sql
from analytics.filters import KpiFilters
from analytics.sql import seconds_between
from dispatch.models import Zone
from routes.learning import doorstep
from routes.learning.selectors import active_travel_model, doorstep_tables, travel_models
from routes.models import TravelModel
from routes.network import ROAD_CLASSES
from routes.road_network import get_road_network, travel_model_speeds

HORIZONS = ("dispatch", "hour", "live")
# The map's stretches: busier roads only (a town's residential streets would be thousands of lines),
# and only stretches whose learned speed differs from the default by at least this share.
MAP_UP_TO_CLASS = "tertiary_link"
MAP_MIN_CHANGE = 0.05
MAP_MAX_LINES = 2500
# Weekday daytime hours the map's ratio is averaged over (local): when the fleet drives.
MAP_HOURS = range(7, 19)


def _rows_sql(where: str) -> str:
    told_start, told_end = "COALESCE(pw.told_start, pw.start)", 'COALESCE(pw.told_end, pw."end")'
    return f"""
SELECT f.date AS date, p.travel_model_version AS version, f.eta_error_s AS dispatch_error_s,
       CASE WHEN a.live_eta IS NULL THEN NULL
            ELSE ABS({seconds_between("f.arrived_at", "a.live_eta")}) END AS live_error_s,
       CASE WHEN s.hour_before_eta IS NULL OR {seconds_between("f.arrived_at", "s.hour_before_eta_at")} < 0 THEN NULL
            ELSE ABS({seconds_between("f.arrived_at", "s.hour_before_eta")}) END AS hour_error_s,
       CASE WHEN pw.order_id IS NULL THEN NULL
            WHEN {seconds_between("f.arrived_at", told_start)} >= 0
             AND {seconds_between("f.arrived_at", told_end)} <= 0 THEN 1 ELSE 0 END AS covered,
       CASE WHEN pw.order_id IS NULL THEN NULL ELSE {seconds_between(told_end, told_start)} END AS width_s,
       CASE WHEN pw.order_id IS NULL THEN NULL WHEN pw.told_revision > 1 THEN 1 ELSE 0 END AS moved
FROM analytics_orderfact f
LEFT JOIN routes_route r ON r.id = f.route_id
LEFT JOIN routes_plan p ON p.id = r.plan_id
LEFT JOIN routes_stop s ON s.route_id = f.route_id AND s.order_id = f.order_id
LEFT JOIN customers_promisedwindow pw ON pw.order_id = f.order_id AND pw.day = f.date
LEFT JOIN analytics_arrivaleta a ON a.order_id = f.order_id AND a.date = f.date
WHERE {where} AND f.arrived_at IS NOT NULL
"""  # nosec B608  # identifiers from code, values as %s parameters


def p90(values: list[float]) -> float | None:
    """Nearest rank: the smallest value with at least 90 % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)])


def _figures(rows: list[dict]) -> dict:
    result: dict = {"arrivals": len(rows)}
    for horizon in HORIZONS:
        errors = [float(row[f"{horizon}_error_s"]) for row in rows if row[f"{horizon}_error_s"] is not None]
        result[horizon] = {
            "count": len(errors),
            "mean_abs_error_s": round(sum(errors) / len(errors), 1) if errors else None,
            "p90_abs_error_s": None if not errors else round(p90(errors), 1),
        }
    promised = [row for row in rows if row["covered"] is not None]
    result["promised"] = len(promised)
    result["window_coverage"] = kpi_sql.ratio(sum(int(row["covered"]) for row in promised), len(promised))
    result["promises_moved"] = kpi_sql.ratio(sum(int(row["moved"]) for row in promised), len(promised))
    widths = [float(row["width_s"]) for row in promised]
    result["window_width_median_s"] = round(statistics.median(widths), 1) if widths else None
    return result


def eta_accuracy(filters: KpiFilters) -> dict:
    """The figures of the orders dated in the filters' range: totals, per day, per model version."""
    where, params = kpi_sql.where_clause(filters)
    rows = kpi_sql.fetch_rows(_rows_sql(where), params)
    by_day, by_version = defaultdict(list), defaultdict(list)
    for row in rows:
        by_day[str(row["date"])[:10]].append(row)
        by_version[row["version"]].append(row)
    return {
        "horizons": list(HORIZONS),
        "totals": _figures(rows),
        "by_day": [{"date": day, **_figures(by_day[day])} for day in sorted(by_day)],
        "by_version": [
            {"model_version": version, **_figures(by_version[version])}
            for version in sorted(by_version, key=lambda v: (v is not None, v or 0))
        ],
        "models": [
            {
                "version": m.version,
                "active": m.active,
                "held_out_day": m.held_out_day,
                "score": m.score,
                "created_at": m.created_at,
                "note": m.note,
            }
            for m in travel_models(limit=20)
        ],  # fmt: skip
    }


# --- what the active model learned -----------------------------------------------------------------


def service_time_table(model: TravelModel | None = None) -> dict:
    """The doorstep the active model learned, per zone: median service and access seconds (an order
    of no item, at no known building or customer), the stops they were learned from, and what the
    planner counts without the model (DEFAULT_SERVICE_MINUTES, the zone's set access time)."""
    model = model if model is not None else active_travel_model()
    service, access = doorstep_tables(model)
    learned_zones = set()
    for table in (service, access):
        learned_zones.update(((table.get("levels") or {}).get("zone") or {}).get("keys", {}))
    zones = {zone.code: zone for zone in Zone.objects.order_by("code")}
    rows = []
    for code in sorted(set(zones) | learned_zones):
        zone = zones.get(code)

        def count(table):
            found = ((table.get("levels") or {}).get("zone") or {}).get("keys", {}).get(code)  # noqa: B023
            return int(found[1]) if found else 0

        learned_service = doorstep.predict(service, zone=code)
        learned_access = doorstep.predict(access, zone=code)
        rows.append(
            {
                "zone": code,
                "name": zone.name if zone else code,
                "service_s": None if learned_service is None else round(learned_service),
                "service_stops": count(service),
                "access_s": None if learned_access is None else round(learned_access),
                "access_stops": count(access),
                "default_service_s": settings.DEFAULT_SERVICE_MINUTES * 60,
                "default_access_s": zone.access_time_s if zone else None,
            }
        )
    return {
        "model_version": model.version if model else None,
        "per_item_s": service.get("per_item_s") if service else None,
        "zones": rows,
    }


def speed_ratio_lines(model: TravelModel | None = None, profile: str = "car") -> list[dict]:
    """Road stretches whose learned speed differs from the default: their polyline ([lon, lat]) and
    learned ÷ default speed, averaged over weekday daytime hours (MAP_HOURS). The default is the
    stretch's free-flow speed times the traffic table of its road class for the hour (what the
    planner drives with before any learning); the learned speed multiplies the free-flow speed by the
    model's factor. The biggest changes first, at most MAP_MAX_LINES."""
    model = model if model is not None else TravelModel.objects.filter(active=True).first()
    network = get_road_network(required=False)
    if model is None or network is None:
        return []
    factors = travel_model_speeds(model).get(profile)
    if factors is None or profile not in network.profiles:
        return []
    state = network._state(profile)  # noqa: SLF001 - a chain's geometry and the traffic table live there
    graph = state.graph
    if factors.shape[-1] != len(graph.chain_class):
        return []  # learned on another road network build
    hours = list(MAP_HOURS)
    table = np.array([state.traffic.class_factors(("weekday", hour)) for hour in hours])  # (hours, classes)
    learned = factors[0, hours, :]  # weekday
    default = table[:, graph.chain_class]  # (hours, chains)
    ratio = (learned / np.maximum(default, 1e-3)).mean(axis=0)
    limit = ROAD_CLASSES.index(MAP_UP_TO_CLASS)
    chosen = np.flatnonzero((graph.chain_class <= limit) & (np.abs(ratio - 1) >= MAP_MIN_CHANGE))
    chosen = chosen[np.argsort(-np.abs(np.log(np.maximum(ratio[chosen], 1e-3))))][:MAP_MAX_LINES]
    lines = []
    for chain in chosen:
        nodes = graph.chain_polyline(int(chain))
        lines.append(
            {
                "ratio": round(float(ratio[chain]), 3),
                "road_class": ROAD_CLASSES[int(graph.chain_class[chain])],
                "line": [
                    [round(float(lon), 5), round(float(lat), 5)]
                    for lat, lon in zip(network.node_lat[nodes], network.node_lon[nodes], strict=True)
                ],
            }  # fmt: skip
        )
    return lines
