"""Reads for the Alerts page: alerts filtered, then grouped by kind or by route (driver and vehicle).

Kinds are grouped as they come (dispatch.alerts.alert_kind_label names them from Alert.Kind), so a
kind added to the model shows up here, in the filters and in the nav's count without a change.
"""

from dataclasses import dataclass
from datetime import datetime

from dispatch import alerts
from dispatch.live import alerts as live_alerts
from dispatch.models import Alert

# The page lists at most this many alerts (the newest); the filters narrow the rest down.
MAX_PAGE_ALERTS = 500
NO_ROUTE = "none"  # the route filter's value for alerts about no driver (a closure, a re-plan)

OPEN, RESOLVED, ALL = "open", "resolved", "all"
GROUP_BY_KIND, GROUP_BY_ROUTE = "kind", "route"


@dataclass(frozen=True)
class AlertFilters:
    kind: str = ""
    depot_id: int | None = None
    route: str = ""  # a driver id, NO_ROUTE, or "" for every route
    state: str = OPEN
    since: datetime | None = None
    until: datetime | None = None


@dataclass
class AlertGroup:
    key: str
    label: str
    alerts: list

    @property
    def open_count(self) -> int:
        return sum(1 for alert in self.alerts if alert.resolved_at is None)


def alerts_filtered(user, filters: AlertFilters):
    """The alerts of the user's depots that pass the filters, newest first (a queryset)."""
    queryset = live_alerts.alerts_visible_to(user, open_only=filters.state == OPEN, depot_id=filters.depot_id)
    queryset = queryset.select_related("driver__vehicle")
    if filters.state == RESOLVED:
        queryset = queryset.filter(resolved_at__isnull=False)
    if filters.kind:
        queryset = queryset.filter(kind=filters.kind)
    if filters.route == NO_ROUTE:
        queryset = queryset.filter(driver__isnull=True)
    elif filters.route:
        queryset = queryset.filter(driver_id=int(filters.route))
    if filters.since is not None:
        queryset = queryset.filter(created_at__gte=filters.since)
    if filters.until is not None:
        queryset = queryset.filter(created_at__lt=filters.until)
    return queryset


def route_label(alert: Alert) -> str:
    """The route an alert is about, as dispatchers name it: the driver, and the van they drive."""
    driver = alert.driver
    if driver is None:
        return "Not about a driver"
    vehicle = getattr(driver, "vehicle", None)
    return f"{driver.name} · {vehicle.name}" if vehicle else driver.name


def alerts_grouped(items: list[Alert], *, by: str) -> list[AlertGroup]:
    """Groups in a steady order: kinds as Alert.Kind lists them, routes by name (alerts about no driver last)."""
    groups: dict[str, AlertGroup] = {}
    for alert in items:
        if by == GROUP_BY_ROUTE:
            key = str(alert.driver_id) if alert.driver_id else NO_ROUTE
            label = route_label(alert)
        else:
            key, label = alert.kind, alerts.alert_kind_label(alert.kind)
        groups.setdefault(key, AlertGroup(key=key, label=label, alerts=[])).alerts.append(alert)
    if by == GROUP_BY_ROUTE:
        return sorted(groups.values(), key=lambda group: (group.key == NO_ROUTE, group.label.lower()))
    order = {kind: n for n, kind in enumerate(Alert.Kind.values)}
    return sorted(groups.values(), key=lambda group: (order.get(group.key, len(order)), group.key))
