"""Courier partners in the analytics (issue 20, "money and quality"): own fleet against partners, each
partner's quality, the share handed off per zone, and each partner's monthly statement as CSV.

Definitions (the page says the same on hover):

- An order is a partner's when its newest hand-off is one the partner took or still holds (offered,
  accepted, delivered or failed); a rejected, expired or withdrawn hand-off leaves the order ours.
- Own fleet: every other order. Its cost is the route cost share of analytics.facts (vehicle fixed
  cost, per km, per hour, split equally over the route's stops), the same as the `cost` KPI.
- A partner's cost is its price for each order it attempted (delivered or failed): the price agreed
  at the hand-off (Handoff.cost). An order it still holds costs nothing yet.
- Cost per delivery: cost over deliveries, for each side. On time and first-attempt success are the
  facts' (arrival inside the window; delivered with no failed attempt), so the partner's are
  measured exactly as our drivers' are.
- Share handed off per zone: the partner's orders over all orders of the zone dated in the range.

Both are plain SQL over analytics_orderfact and dispatch_handoff, on PostgreSQL and SQLite alike.
"""

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.utils.translation import gettext

from analytics import kpi_sql
from analytics.errors import AnalyticsError
from analytics.filters import KpiFilters
from analytics.sql import is_true
from dispatch.models import CourierPartner, Handoff, Zone
from dispatch.partners.services import handoff_price_parts

H = Handoff.Status
# The hand-offs that make an order the partner's (see the module's docstring).
PARTNER_HOLDS = (H.OFFERED, H.ACCEPTED, H.DELIVERED, H.FAILED)
# What the partner bills: what it went to the door for.
BILLED = (H.DELIVERED, H.FAILED)


def _handed_sql(where: str) -> str:
    holds = ", ".join(f"'{status}'" for status in PARTNER_HOLDS)
    return f"""
WITH handed AS (
    SELECT order_id, partner_id, cost FROM (
        SELECT h.order_id, h.partner_id, CAST(h.cost AS DOUBLE PRECISION) AS cost, h.status,
               ROW_NUMBER() OVER (PARTITION BY h.order_id ORDER BY h.offered_at DESC, h.id DESC) AS rank
        FROM dispatch_handoff h JOIN analytics_orderfact f ON f.order_id = h.order_id
        WHERE {where}
    ) newest WHERE rank = 1 AND status IN ({holds})
)"""  # nosec B608  # statuses and identifiers from code, values as %s parameters


def _side_sql(where: str) -> str:
    t = is_true
    return f"""{_handed_sql(where)}
SELECT hd.partner_id AS partner_id,
       COUNT(*) AS orders,
       SUM(CASE WHEN {t("f.delivered")} THEN 1 ELSE 0 END) AS deliveries,
       SUM(CASE WHEN {t("f.attempted")} THEN 1 ELSE 0 END) AS attempted,
       SUM(CASE WHEN {t("f.first_attempt_success")} THEN 1 ELSE 0 END) AS first_attempt_successes,
       SUM(CASE WHEN {t("f.on_time")} THEN 1 ELSE 0 END) AS on_time,
       SUM(CASE WHEN f.on_time IS NOT NULL THEN 1 ELSE 0 END) AS on_time_counted,
       SUM(CASE WHEN hd.order_id IS NULL THEN f.route_cost_share
                WHEN {t("f.attempted")} THEN hd.cost ELSE 0 END) AS cost
FROM analytics_orderfact f LEFT JOIN handed hd ON hd.order_id = f.order_id
WHERE {where}
GROUP BY hd.partner_id
"""  # nosec B608  # identifiers from code, values as %s parameters


def _zones_sql(where: str) -> str:
    return f"""{_handed_sql(where)}
SELECT f.zone_id AS zone_id, COUNT(*) AS orders, COUNT(hd.order_id) AS handed_off
FROM analytics_orderfact f LEFT JOIN handed hd ON hd.order_id = f.order_id
WHERE {where}
GROUP BY f.zone_id
"""  # nosec B608  # identifiers from code, values as %s parameters


def _finish(row: dict) -> dict:
    deliveries, attempted = int(row["deliveries"] or 0), int(row["attempted"] or 0)
    cost = round(float(row["cost"] or 0), 2)
    return {
        "orders": int(row["orders"] or 0),
        "deliveries": deliveries,
        "attempted": attempted,
        "cost": cost,
        "cost_per_delivery": round(cost / deliveries, 2) if deliveries else None,
        "on_time_rate": kpi_sql.ratio(int(row["on_time"] or 0), int(row["on_time_counted"] or 0)),
        "first_attempt_success_rate": kpi_sql.ratio(int(row["first_attempt_successes"] or 0), attempted),
    }


EMPTY_SIDE = {"orders": 0, "deliveries": 0, "attempted": 0, "cost": 0, "first_attempt_successes": 0,
              "on_time": 0, "on_time_counted": 0}  # fmt: skip


def partner_figures(filters: KpiFilters) -> dict:
    """Own fleet against partners (cost per delivery), each partner's rates, and the share per zone."""
    where, params = kpi_sql.where_clause(filters)
    rows = kpi_sql.fetch_rows(_side_sql(where), params + params)
    own = next((row for row in rows if row["partner_id"] is None), EMPTY_SIDE)
    by_partner = {row["partner_id"]: row for row in rows if row["partner_id"] is not None}
    partners_total = {name: sum(row[name] or 0 for row in by_partner.values()) for name in EMPTY_SIDE}
    names = dict(CourierPartner.objects.filter(id__in=list(by_partner)).values_list("id", "code"))
    titles = dict(CourierPartner.objects.filter(id__in=list(by_partner)).values_list("id", "name"))
    zone_rows = kpi_sql.fetch_rows(_zones_sql(where), params + params)
    zones = {zone.id: zone for zone in Zone.objects.filter(id__in=[r["zone_id"] for r in zone_rows if r["zone_id"]])}
    return {
        "own_fleet": _finish(own),
        "partners": _finish(partners_total),
        "by_partner": sorted(
            ({"partner": names[pk], "name": titles[pk], **_finish(row)} for pk, row in by_partner.items()),
            key=lambda row: row["partner"],
        ),
        "by_zone": sorted(
            (
                {
                    "zone": zones[row["zone_id"]].code if row["zone_id"] in zones else None,
                    "name": zones[row["zone_id"]].name if row["zone_id"] in zones else gettext("No zone"),
                    "orders": int(row["orders"]),
                    "handed_off": int(row["handed_off"]),
                    "handed_off_share": kpi_sql.ratio(int(row["handed_off"]), int(row["orders"])),
                }
                for row in zone_rows
            ),
            key=lambda row: (row["zone"] is None, row["zone"] or ""),
        ),
    }


# --- The monthly statement -----------------------------------------------------------------------

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")

STATEMENT_COLUMNS = (
    "date", "reference", "status", "outcome", "failure_reason", "price_per_stop", "price_weight", "price_zone",
    "total", "billed",
)  # fmt: skip


@dataclass(frozen=True)
class Month:
    first: date
    last: date

    @property
    def label(self) -> str:
        return f"{self.first:%Y-%m}"


def month_from_query(raw) -> Month:
    """`YYYY-MM` (01..12) as the month's first and last day; anything else is a clear error."""
    text = (raw or "").strip()
    match = _MONTH.match(text)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise AnalyticsError(gettext("month must be YYYY-MM, e.g. 2026-11"), field="month", value=text[:40] or None)
    first = date(int(match.group(1)), int(match.group(2)), 1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Month(first=first, last=following - timedelta(days=1))


def _price_parts(handoff: Handoff) -> dict[str, Decimal]:
    """The parts kept at the hand-off; for an older hand-off, today's prices, the remainder on the stop
    price so the parts always add up to what was agreed (Handoff.cost)."""
    if handoff.price_parts:
        return {name: Decimal(str(handoff.price_parts.get(name, "0"))) for name in ("stop", "kg", "zone")}
    parts = handoff_price_parts(partner=handoff.partner, order=handoff.order)
    parts["stop"] = handoff.cost - parts["kg"] - parts["zone"]
    return parts


def statement_rows(*, partner: CourierPartner, month: Month) -> tuple[list[list], Decimal]:
    """Each order handed to the partner dated in the month (the hand-offs it holds or held), and the
    total it bills: the orders it delivered or failed."""
    handoffs = (
        Handoff.objects.filter(
            partner=partner, status__in=PARTNER_HOLDS, order__date__gte=month.first, order__date__lte=month.last
        )
        .select_related("order__zone", "partner")
        .order_by("order__date", "order__reference", "offered_at", "id")
    )
    rows, total = [], Decimal("0.00")
    for handoff in handoffs:
        parts = _price_parts(handoff)
        billed = handoff.status in BILLED
        if billed:
            total += handoff.cost
        order = handoff.order
        rows.append(
            [
                order.date.isoformat(),
                order.reference,
                handoff.status,
                order.status,
                handoff.reason if handoff.status == H.FAILED else "",
                f"{parts['stop']:.2f}",
                f"{parts['kg']:.2f}",
                f"{parts['zone']:.2f}",
                f"{handoff.cost:.2f}",
                "yes" if billed else "no",
            ]  # fmt: skip
        )
    return rows, total


def statement_csv(*, partner: CourierPartner, month: Month) -> str:
    """The statement as CSV: a header, one row per order, and a last line with the billed total."""
    rows, total = statement_rows(partner=partner, month=month)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(STATEMENT_COLUMNS)
    writer.writerows(rows)
    billed = sum(1 for row in rows if row[-1] == "yes")
    writer.writerow(
        ["total", f"{partner.code} {month.label}", f"{billed} billed", "", "", "", "", "", f"{total:.2f}", ""]
    )
    return buffer.getvalue()


def statement_filename(*, partner: CourierPartner, month: Month) -> str:
    return f"statement-{partner.code}-{month.label}.csv"
