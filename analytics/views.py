"""The analytics page for managers and dispatchers (drivers get the 403 page)."""

from django.conf import settings
from django.shortcuts import render
from django.utils.translation import gettext, gettext_lazy
from rest_framework.exceptions import ValidationError

from analytics import charts, eta_accuracy, partners, selectors
from analytics.errors import AnalyticsError
from analytics.inputs import kpi_filters_from_query
from analytics.maps import lateness_map_html, speed_ratio_map_html
from analytics.units import human
from dispatch.driver_app.views import FAIL_REASON_LABELS
from dispatch.fleet import selectors as fleet_selectors
from dispatch.models import CourierPartner, Vehicle
from dispatch.permissions import (
    office_staff_required,  # KPI cards: name, label, kind of figure (analytics.units), whether a higher value is better, and the
)
from dispatch.roles import is_manager

# one line the card says on hover.
CARDS = (
    ("deliveries", gettext_lazy("Deliveries"), "int", True, gettext_lazy("Orders delivered, at the first attempt or a later one.")),
    ("on_time_rate", gettext_lazy("On time"), "pct", True,
     gettext_lazy("Share of arrivals inside the delivery window (arrivals at orders without a window are left out).")),
    ("first_attempt_success_rate", gettext_lazy("First-attempt success"), "pct", True,
     gettext_lazy("Share of attempted orders delivered at the first attempt.")),
    ("avg_delay_s", gettext_lazy("Average delay"), "duration", False,
     gettext_lazy("Average time arrivals came after the window's end, on-time ones counting 0 (hours:minutes).")),
    ("p90_delay_s", gettext_lazy("P90 delay"), "duration", False,
     gettext_lazy("9 in 10 arrivals with a window came at most this long after its end (hours:minutes).")),
    ("cost_per_delivery", gettext_lazy("Cost per delivery"), "money", False,
     gettext_lazy("Route costs (each vehicle's fixed cost, cost per km and per hour) divided by deliveries.")),
    ("distance_per_delivery_m", gettext_lazy("Distance per delivery"), "km", False,
     gettext_lazy("Planned kilometres of the routes divided by deliveries (no odometer is read).")),
    ("stops_per_hour", gettext_lazy("Stops per hour"), "dec", True, gettext_lazy("Stops served per hour of route time actually driven.")),
    ("eta_mean_abs_error_s", gettext_lazy("ETA error (mean)"), "duration", False,
     gettext_lazy("Average gap between the promised arrival time and the actual one, early or late (hours:minutes).")),
    ("csat_avg", gettext_lazy("Customer rating"), "dec", True, gettext_lazy("Average of the customers' ratings, 1 to 5 stars.")),
    ("feedback_count", gettext_lazy("Feedback"), "int", True, gettext_lazy("How many customers rated their delivery.")),
)  # fmt: skip

# Columns of the driver and zone tables: key, heading, the one line it says on hover.
TABLE_COLUMNS = (
    ("deliveries", gettext_lazy("Delivered"), gettext_lazy("Orders delivered.")),
    ("failed", gettext_lazy("Failed"), gettext_lazy("Orders whose last attempt failed.")),
    ("on_time", gettext_lazy("On time"), gettext_lazy("Share of arrivals inside the delivery window.")),
    (
        "first_attempt",
        gettext_lazy("First attempt"),
        gettext_lazy("Share of attempted orders delivered at the first attempt."),
    ),
    (
        "avg_delay",
        gettext_lazy("Avg delay"),
        gettext_lazy("Average time after the window's end, on-time arrivals counting 0 (hours:minutes)."),
    ),
    (
        "p90_delay",
        gettext_lazy("P90 delay"),
        gettext_lazy("9 in 10 arrivals came at most this long after the window's end (hours:minutes)."),
    ),
    ("cost", gettext_lazy("Cost/delivery"), gettext_lazy("Route costs divided by deliveries.")),
    ("stops_per_hour", gettext_lazy("Stops/h"), gettext_lazy("Stops served per hour of route time driven.")),
    (
        "planned",
        gettext_lazy("Route time planned"),
        gettext_lazy("Route time of the dispatched plans (hours:minutes)."),
    ),
    (
        "actual",
        gettext_lazy("Route time driven"),
        gettext_lazy("First to last stop event, plus the planned drives from and back to the depot (hours:minutes)."),
    ),
    ("csat", gettext_lazy("Rating"), gettext_lazy("Average customer rating, 1 to 5 stars.")),
)


def _cards(comparison: dict) -> list[dict]:
    cards = []
    for name, label, kind, higher_is_better, explanation in CARDS:
        change = comparison["change"].get(name)
        direction = "same" if not change else ("better" if (change > 0) == higher_is_better else "worse")
        cards.append(
            {
                "name": name,
                "label": label,
                "explanation": explanation,
                "value": human(comparison["current"][name], kind),
                "previous": human(comparison["previous"][name], kind),
                "change": "" if change is None else human(change, kind, signed=True),
                "direction": direction,
            }
        )
    return cards


def _rows(table: list[dict]) -> list[dict]:
    return [
        {
            "name": row["name"],
            "deliveries": human(row["deliveries"], "int"),
            "failed": human(row["failed"], "int"),
            "on_time": human(row["on_time_rate"], "pct"),
            "first_attempt": human(row["first_attempt_success_rate"], "pct"),
            "avg_delay": human(row["avg_delay_s"], "duration"),
            "p90_delay": human(row["p90_delay_s"], "duration"),
            "cost": human(row["cost_per_delivery"], "money"),
            "stops_per_hour": human(row["stops_per_hour"], "dec"),
            # A group without routes has no route time: a dash, not "0:00 h".
            "planned": human(row["planned_route_duration_s"] or None, "duration"),
            "actual": human(row["actual_route_duration_s"] or None, "duration"),
            "csat": human(row["csat_avg"], "dec"),
        }
        for row in table
    ]


def _totals(current: dict) -> dict:
    """The period's totals under the cards, formatted."""
    return {
        "planned_route_time": human(current["planned_route_duration_s"], "duration"),
        "actual_route_time": human(current["actual_route_duration_s"], "duration"),
        "distance": human(current["distance_m"], "km"),
        "cost": human(current["cost"], "money"),
        "eta_p90_error": human(current["eta_p90_abs_error_s"], "duration"),
    }


def _partner_section(filters, user) -> dict | None:
    """Courier partners against our own fleet, formatted (none while the company has no partner)."""
    if not CourierPartner.objects.exists():
        return None
    figures = partners.partner_figures(filters)

    def side(name, row) -> dict:
        return {
            "name": name,
            "orders": human(row["orders"], "int"),
            "deliveries": human(row["deliveries"], "int"),
            "cost": human(row["cost"], "money"),
            "cost_per_delivery": human(row["cost_per_delivery"], "money"),
            "on_time": human(row["on_time_rate"], "pct"),
            "first_attempt": human(row["first_attempt_success_rate"], "pct"),
        }

    return {
        "sides": [
            side(gettext("Own fleet"), figures["own_fleet"]),
            side(gettext("All partners"), figures["partners"]),
            *(side(row["name"], row) for row in figures["by_partner"]),
        ],
        "zones": [
            {
                "name": row["name"],
                "orders": human(row["orders"], "int"),
                "handed_off": human(row["handed_off"], "int"),
                "share": human(row["handed_off_share"], "pct"),
            }
            for row in figures["by_zone"]
        ],
        # Managers download each partner's monthly statement.
        "statement_partners": list(CourierPartner.objects.order_by("code")) if is_manager(user) else [],
        "statement_month": f"{filters.date_to:%Y-%m}",
    }


def _minutes(seconds) -> float:
    return round((seconds or 0) / 60, 1)


def _eta_figures_row(label, figures: dict) -> dict:
    return {
        "label": label,
        "arrivals": human(figures["arrivals"], "int"),
        "dispatch_mean": human(figures["dispatch"]["mean_abs_error_s"], "duration"),
        "dispatch_p90": human(figures["dispatch"]["p90_abs_error_s"], "duration"),
        "hour_mean": human(figures["hour"]["mean_abs_error_s"], "duration"),
        "hour_p90": human(figures["hour"]["p90_abs_error_s"], "duration"),
        "live_mean": human(figures["live"]["mean_abs_error_s"], "duration"),
        "live_p90": human(figures["live"]["p90_abs_error_s"], "duration"),
        "coverage": human(figures["window_coverage"], "pct"),
        "moved": human(figures["promises_moved"], "pct"),
        "width": human(figures["window_width_median_s"], "duration"),
    }


def _eta_section(filters, depots) -> dict:
    """ETA accuracy (issue 18): errors per horizon, day and model version; the learned speeds and doorstep."""
    figures = eta_accuracy.eta_accuracy(filters)
    days = figures["by_day"]
    versions = figures["by_version"]

    def version_label(version) -> str:
        return gettext("defaults") if version is None else f"v{version}"

    return {
        "totals": _eta_figures_row(gettext("All"), figures["totals"]),
        "versions": [_eta_figures_row(version_label(row["model_version"]), row) for row in versions],
        "daily_chart": charts.bars_and_line(
            labels=[f"{row['date'][8:10]}.{row['date'][5:7]}" for row in days],
            bars=[_minutes(row["dispatch"]["p90_abs_error_s"]) for row in days],
            line=[row["window_coverage"] for row in days],
            title=gettext("ETA p90 error (minutes) and window coverage per day"),
            bar_label=gettext("min p90 error at dispatch"),
            line_label=gettext("window coverage"),
        ),  # fmt: skip
        "version_chart": charts.horizontal_bars(
            items=[
                (version_label(row["model_version"]), _minutes(row["dispatch"]["p90_abs_error_s"])) for row in versions
            ],
            title=gettext("ETA p90 error at dispatch (minutes) per travel model version"),
            color_class="bar",
        ),  # fmt: skip
        "service_table": [
            {
                "name": row["name"],
                "service": human(row["service_s"], "duration"),
                "service_stops": human(row["service_stops"], "int"),
                "access": human(row["access_s"], "duration"),
                "access_stops": human(row["access_stops"], "int"),
                "default_service": human(row["default_service_s"], "duration"),
                "default_access": human(row["default_access_s"], "duration"),
            }
            for row in eta_accuracy.service_time_table()["zones"]
        ],
        "speed_map_html": speed_ratio_map_html(lines=eta_accuracy.speed_ratio_lines(), depots=depots),
    }


@office_staff_required
def overview(request):
    user = request.user
    depots = list(fleet_selectors.depots_visible_to(user))
    zones = list(fleet_selectors.zones_visible_to(user))
    drivers = list(fleet_selectors.drivers_visible_to(user))
    try:
        filters = kpi_filters_from_query(user=user, query=request.GET)
        error = None
    except (AnalyticsError, ValidationError) as exc:
        filters = kpi_filters_from_query(user=user, query={})
        error = getattr(exc, "message", None) or gettext("Some filters were not valid and were ignored.")
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
        "totals": _totals(current),
        "table_columns": TABLE_COLUMNS,
        "currency": settings.CURRENCY,
        "daily_chart": charts.bars_and_line(
            labels=[f"{row['date']:%d.%m}" for row in daily],
            bars=[row["deliveries"] for row in daily],
            line=[row["on_time_rate"] for row in daily],
            title=gettext("Deliveries and on-time rate per day"),
            bar_label=gettext("deliveries"),
            line_label=gettext("on-time rate"),
        ),  # fmt: skip
        "weekly_chart": charts.bars_and_line(
            labels=[f"W{row['week']:%V}" for row in weekly],
            bars=[row["deliveries"] for row in weekly],
            line=[row["on_time_rate"] for row in weekly],
            title=gettext("Deliveries and on-time rate per week"),
            bar_label=gettext("deliveries"),
            line_label=gettext("on-time rate"),
        ),  # fmt: skip
        "failure_chart": charts.horizontal_bars(
            items=[
                (str(FAIL_REASON_LABELS.get(reason, reason.replace("_", " "))), count)
                for reason, count in current["failure_reasons"].items()
            ],
            title=gettext("Failed orders by reason"),
            color_class="bar-failed",
        ),  # fmt: skip
        "rating_chart": charts.horizontal_bars(
            items=[(f"{n} ★", current["csat_distribution"][str(n)]) for n in range(5, 0, -1)],
            title=gettext("Customer ratings"),
            color_class="bar-rating",
        ),  # fmt: skip
        "driver_rows": _rows(selectors.driver_table(filters, figures.by_driver)),
        "zone_rows": _rows(selectors.zone_table(filters, figures.by_zone)),
        "map_html": lateness_map_html(
            points=points,
            depots=[d for d in depots if filters.depot_ids is None or d.id in filters.depot_ids],
        ),
        "map_sampled": len(points) < current["attempted"],
        "map_shown": human(len(points), "int"),
        "map_attempted": human(current["attempted"], "int"),
        "map_cap": human(selectors.MAP_POINTS_CAP, "int"),
        "export_query": request.GET.urlencode(),
        "partner_section": _partner_section(filters, user),
        "eta_section": _eta_section(
            filters, [d for d in depots if filters.depot_ids is None or d.id in filters.depot_ids]
        ),
    }
    return render(request, "analytics/overview.html", context)
