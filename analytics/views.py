"""The analytics page for managers and dispatchers (drivers get the 403 page)."""

from django.shortcuts import render
from rest_framework.exceptions import ValidationError

from analytics import charts, selectors
from analytics.errors import AnalyticsError
from analytics.inputs import kpi_filters_from_query
from analytics.maps import lateness_map_html
from dispatch import selectors as dispatch_selectors
from dispatch.models import Vehicle
from dispatch.views import office_staff_required

# KPI cards: name, label, format, whether a higher value is better.
CARDS = (
    ("deliveries", "Deliveries", "int", True),
    ("on_time_rate", "On time", "pct", True),
    ("first_attempt_success_rate", "First-attempt success", "pct", True),
    ("avg_delay_s", "Average delay", "min", False),
    ("p90_delay_s", "P90 delay", "min", False),
    ("cost_per_delivery", "Cost per delivery", "money", False),
    ("distance_per_delivery_m", "Distance per delivery", "km", False),
    ("stops_per_hour", "Stops per hour", "dec", True),
    ("eta_mean_abs_error_s", "ETA error (mean)", "min", False),
    ("csat_avg", "Customer rating", "dec", True),
    ("feedback_count", "Feedback", "int", True),
)


def _fmt(value, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{value * 100:.1f} %"
    if kind == "min":
        return f"{value / 60:.1f} min"
    if kind == "money":
        return f"{value:.2f}"
    if kind == "km":
        return f"{value / 1000:.2f} km"
    if kind == "dec":
        return f"{value:.2f}"
    return f"{value:,}".replace(",", "\u202f")


def _change_label(change, kind: str) -> str:
    if change is None:
        return ""
    if kind == "pct":
        return f"{change * 100:+.1f} pts"
    if kind == "min":
        return f"{change / 60:+.1f} min"
    if kind == "km":
        return f"{change / 1000:+.2f} km"
    if kind in ("money", "dec"):
        return f"{change:+.2f}"
    return f"{change:+,}".replace(",", "\u202f")


def _cards(comparison: dict) -> list[dict]:
    cards = []
    for name, label, kind, higher_is_better in CARDS:
        change = comparison["change"].get(name)
        direction = "same" if not change else ("better" if (change > 0) == higher_is_better else "worse")
        cards.append(
            {
                "name": name,
                "label": label,
                "value": _fmt(comparison["current"][name], kind),
                "previous": _fmt(comparison["previous"][name], kind),
                "change": _change_label(change, kind),
                "direction": direction,
            }
        )
    return cards


def _rows(table: list[dict]) -> list[dict]:
    return [
        {
            "name": row["name"],
            "deliveries": row["deliveries"],
            "failed": row["failed"],
            "on_time": _fmt(row["on_time_rate"], "pct"),
            "first_attempt": _fmt(row["first_attempt_success_rate"], "pct"),
            "avg_delay": _fmt(row["avg_delay_s"], "min"),
            "p90_delay": _fmt(row["p90_delay_s"], "min"),
            "cost": _fmt(row["cost_per_delivery"], "money"),
            "stops_per_hour": _fmt(row["stops_per_hour"], "dec"),
            "planned": _fmt(row["planned_route_duration_s"] / 60 if row["planned_route_duration_s"] else None, "dec"),
            "actual": _fmt(row["actual_route_duration_s"] / 60 if row["actual_route_duration_s"] else None, "dec"),
            "csat": _fmt(row["csat_avg"], "dec"),
        }
        for row in table
    ]


@office_staff_required
def overview(request):
    user = request.user
    depots = list(dispatch_selectors.depots_visible_to(user))
    zones = list(dispatch_selectors.zones_visible_to(user))
    drivers = list(dispatch_selectors.drivers_visible_to(user))
    try:
        filters = kpi_filters_from_query(user=user, query=request.GET)
        error = None
    except (AnalyticsError, ValidationError) as exc:
        filters = kpi_filters_from_query(user=user, query={})
        error = getattr(exc, "message", None) or "Some filters were not valid and were ignored."
    figures = selectors.page_figures(filters)
    current = figures.totals
    comparison = selectors.kpis_compare(filters, current=current)
    daily = selectors.daily_trend(filters, figures.daily_sums)
    weekly = selectors.weekly_trend(filters, figures.daily_sums)
    points = selectors.lateness_points(filters, attempted=current["attempted"], limit=selectors.MAP_POINTS_CAP)
    context = {
        "filters": filters,
        "query": request.GET,
        "error": error,
        "depots": depots,
        "zones": zones,
        "drivers": drivers,
        "vehicle_kinds": Vehicle.Kind.choices,
        "comparison": comparison,
        "cards": _cards(comparison),
        "daily_chart": charts.bars_and_line(
            labels=[f"{row['date']:%d.%m}" for row in daily],
            bars=[row["deliveries"] for row in daily],
            line=[row["on_time_rate"] for row in daily],
            title="Deliveries and on-time rate per day",
            bar_label="deliveries",
            line_label="on-time rate",
        ),  # fmt: skip
        "weekly_chart": charts.bars_and_line(
            labels=[f"W{row['week']:%V}" for row in weekly],
            bars=[row["deliveries"] for row in weekly],
            line=[row["on_time_rate"] for row in weekly],
            title="Deliveries and on-time rate per week",
            bar_label="deliveries",
            line_label="on-time rate",
        ),  # fmt: skip
        "failure_chart": charts.horizontal_bars(
            items=[(reason.replace("_", " "), count) for reason, count in current["failure_reasons"].items()],
            title="Failed orders by reason",
            color_class="bar-failed",
        ),  # fmt: skip
        "rating_chart": charts.horizontal_bars(
            items=[(f"{n} ★", current["csat_distribution"][str(n)]) for n in range(5, 0, -1)],
            title="Customer ratings",
            color_class="bar-rating",
        ),  # fmt: skip
        "driver_rows": _rows(selectors.driver_table(filters, figures.by_driver)),
        "zone_rows": _rows(selectors.zone_table(filters, figures.by_zone)),
        "map_html": lateness_map_html(
            points=points,
            depots=[d for d in depots if filters.depot_ids is None or d.id in filters.depot_ids],
        ),
        "map_sampled": len(points) < current["attempted"],
        "map_shown": _fmt(len(points), "int"),
        "map_attempted": _fmt(current["attempted"], "int"),
        "map_cap": _fmt(selectors.MAP_POINTS_CAP, "int"),
        "export_query": request.GET.urlencode(),
    }
    return render(request, "analytics/overview.html", context)
