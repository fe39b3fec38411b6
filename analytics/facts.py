"""The SQL that derives OrderFact rows from orders, their status history and the dispatched plans.

Definitions (benchmarks/ANALYTICS.md and the analytics page say the same in words):

- The order's stop is its stop in the newest dispatched version of its day's plan (the plan the
  driver followed); its `eta` is the ETA promised at dispatch.
- Attempted: the history has a 'delivered' or 'failed' change. First-attempt success: delivered
  with no 'failed' change at all in the history.
- Arrival: the last 'arrived' change; when a driver failed without recording an arrival, the
  'failed' change stands for it.
- On time: arrival inside [window_start, window_end] (an open side is unbounded); null when the
  order has no window or no arrival. Delay: seconds after window_end, 0 when not late.
- Routes: planned figures are the dispatched route's distance and duration. Actual duration is the
  time between the first and the last status change (en_route/arrived/delivered/failed) of the
  route's orders within six hours of the route's planned times, plus the planned legs from the
  depot to the first stop and from the last stop back. Actual distance is the planned distance:
  the platform keeps no odometer and prunes GPS traces. A route with no status change at all
  counts its planned duration. Route cost = vehicle fixed cost + cost/km × km + cost/h × actual
  hours; every stop of a route carries an equal share of its cost, distance and time, so any
  subset of orders (a zone, a driver, a day) adds up to its part of the fleet's totals.
"""

from analytics.sql import materialized, seconds_between, shifted

FACT_COLUMNS = (
    "order_id", "date", "depot_id", "zone_id", "status", "route_id", "driver_id", "vehicle_kind", "has_window",
    "window_end", "promised_eta", "arrived_at", "delivered_at", "attempted", "delivered", "failed_attempts",
    "first_attempt_success", "last_failure_reason", "on_time", "delay_s", "eta_error_s", "route_cost_share",
    "route_distance_share_m", "route_planned_share_s", "route_actual_share_s",
)  # fmt: skip

ROUTE_SLACK_S = 6 * 3600


def facts_insert_sql(*, by_depot: bool) -> str:
    """INSERT ... SELECT of the facts of the orders dated %(date_from)s..%(date_to)s (and %(depot_id)s)."""
    depot_filter = "AND o.depot_id = %(depot_id)s" if by_depot else ""
    arrival = "COALESCE(h.arrived_at, h.failed_at)"
    m = materialized()
    route_actual = f"""
        CASE WHEN ra.first_change IS NULL THEN NULL ELSE
            {seconds_between("ra.last_change", "ra.first_change")}
            + CASE WHEN r.start IS NULL THEN 0 ELSE {seconds_between("ra.first_eta", "r.start")} END
            + CASE WHEN r."end" IS NULL THEN 0 ELSE {seconds_between('r."end"', "ra.last_etd")} END
        END"""
    return f"""
INSERT INTO analytics_orderfact ({", ".join(FACT_COLUMNS)})
WITH scope AS {m} (
    SELECT o.id, o.date, o.depot_id, o.zone_id, o.status, o.window_start, o.window_end
    FROM dispatch_order o
    WHERE o.date >= %(date_from)s AND o.date <= %(date_to)s {depot_filter}
),
history AS {m} (
    SELECT c.order_id,
           MAX(CASE WHEN c.to_status = 'arrived' THEN c.changed_at END) AS arrived_at,
           MAX(CASE WHEN c.to_status = 'delivered' THEN c.changed_at END) AS delivered_at,
           MAX(CASE WHEN c.to_status = 'failed' THEN c.changed_at END) AS failed_at,
           SUM(CASE WHEN c.to_status = 'failed' THEN 1 ELSE 0 END) AS failed_attempts
    FROM dispatch_orderstatuschange c JOIN scope s ON s.id = c.order_id
    WHERE c.to_status IN ('arrived', 'delivered', 'failed')
    GROUP BY c.order_id
),
last_failure AS {m} (
    SELECT order_id, reason FROM (
        SELECT c.order_id, c.reason,
               ROW_NUMBER() OVER (PARTITION BY c.order_id ORDER BY c.changed_at DESC, c.id DESC) AS rank
        FROM dispatch_orderstatuschange c JOIN scope s ON s.id = c.order_id
        WHERE c.to_status = 'failed'
    ) failures WHERE rank = 1
),
order_stop AS {m} (
    SELECT order_id, route_id, eta FROM (
        SELECT st.order_id, st.route_id, st.eta,
               ROW_NUMBER() OVER (PARTITION BY st.order_id ORDER BY p.version DESC, p.id DESC) AS rank
        FROM routes_stop st
        JOIN scope s ON s.id = st.order_id
        JOIN routes_route r ON r.id = st.route_id
        JOIN routes_plan p ON p.id = r.plan_id
        WHERE p.dispatched_at IS NOT NULL AND p.status = 'done' AND p.date = s.date
    ) stops WHERE rank = 1
),
route_activity AS {m} (
    SELECT st.route_id, COUNT(DISTINCT st.id) AS stop_count, MIN(st.eta) AS first_eta, MAX(st.etd) AS last_etd,
           MIN(c.changed_at) AS first_change, MAX(c.changed_at) AS last_change
    FROM routes_stop st
    JOIN routes_route r ON r.id = st.route_id
    LEFT JOIN dispatch_orderstatuschange c
           ON c.order_id = st.order_id
          AND c.to_status IN ('en_route', 'arrived', 'delivered', 'failed')
          AND (r.start IS NULL OR c.changed_at > {shifted("r.start", -ROUTE_SLACK_S)})
          AND (r."end" IS NULL OR c.changed_at < {shifted('r."end"', ROUTE_SLACK_S)})
    WHERE st.route_id IN (SELECT route_id FROM order_stop)
    GROUP BY st.route_id
),
route_figures AS {m} (
    SELECT r.id, r.driver_id, v.kind, ra.stop_count,
           CAST(r.distance_m AS DOUBLE PRECISION) AS distance_m,
           CAST(r.duration_s AS DOUBLE PRECISION) AS planned_s,
           {route_actual} AS actual_s,
           CAST(v.fixed_cost AS DOUBLE PRECISION) AS fixed_cost,
           CAST(v.cost_per_km AS DOUBLE PRECISION) AS cost_per_km,
           CAST(v.cost_per_hour AS DOUBLE PRECISION) AS cost_per_hour
    FROM routes_route r
    JOIN dispatch_vehicle v ON v.id = r.vehicle_id
    JOIN route_activity ra ON ra.route_id = r.id
)
SELECT s.id, s.date, s.depot_id, s.zone_id, s.status, os.route_id, rf.driver_id, COALESCE(rf.kind, ''),
       CASE WHEN s.window_start IS NOT NULL OR s.window_end IS NOT NULL THEN TRUE ELSE FALSE END,
       s.window_end, os.eta, {arrival}, h.delivered_at,
       CASE WHEN h.delivered_at IS NOT NULL OR h.failed_at IS NOT NULL THEN TRUE ELSE FALSE END,
       CASE WHEN h.delivered_at IS NOT NULL THEN TRUE ELSE FALSE END,
       COALESCE(h.failed_attempts, 0),
       CASE WHEN h.delivered_at IS NOT NULL AND COALESCE(h.failed_attempts, 0) = 0 THEN TRUE ELSE FALSE END,
       COALESCE(lf.reason, ''),
       CASE WHEN {arrival} IS NULL OR (s.window_start IS NULL AND s.window_end IS NULL) THEN NULL
            WHEN (s.window_start IS NULL OR {seconds_between(arrival, "s.window_start")} >= 0)
             AND (s.window_end IS NULL OR {seconds_between(arrival, "s.window_end")} <= 0) THEN TRUE
            ELSE FALSE END,
       CASE WHEN {arrival} IS NULL OR (s.window_start IS NULL AND s.window_end IS NULL) THEN NULL
            WHEN s.window_end IS NULL OR {seconds_between(arrival, "s.window_end")} <= 0 THEN 0
            ELSE CAST(ROUND({seconds_between(arrival, "s.window_end")}) AS INTEGER) END,
       CASE WHEN {arrival} IS NULL OR os.eta IS NULL THEN NULL
            ELSE CAST(ROUND(ABS({seconds_between(arrival, "os.eta")})) AS INTEGER) END,
       (rf.fixed_cost + rf.cost_per_km * rf.distance_m / 1000.0
            + rf.cost_per_hour * COALESCE(rf.actual_s, rf.planned_s) / 3600.0) / rf.stop_count,
       rf.distance_m / rf.stop_count,
       rf.planned_s / rf.stop_count,
       COALESCE(rf.actual_s, rf.planned_s) / rf.stop_count
FROM scope s
LEFT JOIN history h ON h.order_id = s.id
LEFT JOIN last_failure lf ON lf.order_id = s.id
LEFT JOIN order_stop os ON os.order_id = s.id
LEFT JOIN route_figures rf ON rf.id = os.route_id
"""  # nosec B608  # identifiers from code, values as %s parameters


def facts_delete_sql(*, by_depot: bool) -> str:
    """Facts of the range, and of orders now in the range whose facts were filed under another day."""
    depot_filter = "AND depot_id = %(depot_id)s" if by_depot else ""
    order_depot_filter = "AND o.depot_id = %(depot_id)s" if by_depot else ""
    return f"""
DELETE FROM analytics_orderfact
WHERE (date >= %(date_from)s AND date <= %(date_to)s {depot_filter})
   OR order_id IN (SELECT o.id FROM dispatch_order o
                   WHERE o.date >= %(date_from)s AND o.date <= %(date_to)s {order_depot_filter})
"""  # nosec B608  # identifiers from code, values as %s parameters


def facts_moved_days_sql(*, by_depot: bool) -> str:
    """The days outside the range whose facts facts_delete_sql removes (orders since moved into the range)."""
    order_depot_filter = "AND o.depot_id = %(depot_id)s" if by_depot else ""
    return f"""
SELECT DISTINCT f.date FROM analytics_orderfact f JOIN dispatch_order o ON o.id = f.order_id
WHERE o.date >= %(date_from)s AND o.date <= %(date_to)s {order_depot_filter}
  AND (f.date < %(date_from)s OR f.date > %(date_to)s)
"""  # nosec B608  # identifiers from code, values as %s parameters
