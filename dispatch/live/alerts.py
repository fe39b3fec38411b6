"""Alerts: what a dispatcher should act on, opened and resolved as the day unfolds.

Kinds and their keys (one open alert per `dedup_key`, enforced by a partial unique constraint):

- late:<order id>   the live ETA is after the window's end; resolves when it is on time again, or when the
                    order is delivered, failed or cancelled;
- idle:<driver id>  a driver whose route has open stops has not moved (or sent a position) for
                    IDLE_ALERT_MINUTES (env, default 10); checked on position intake and by the
                    `dispatch.live.alerts.check_idle_drivers` beat task every minute; resolves when the driver moves;
- failed:<order id> a delivery failed; resolves when the order is planned again or cancelled, or by a dispatcher;
- replan:<plan id>  (kind "replan_proposal") a re-plan the system made waits for approval, with
                    its diff in `data`; resolves on approval, rejection or a newer version; on timeout it is
                    re-worded (the running version stays) and stays open (routes.plans.proposals);
- closed_road:<order id>  a closure cut a stop off (routes.closures.replanning).

Every open, change and resolve is published to the depot's live group as an `alert` message:
{"type": "alert", "id", "kind", "kind_label", "message", "order", "driver", "depot", "data", "created_at",
"resolved_at", "resolved": bool} (the live layer adds `seq`). Publishing happens after commit.
"""

import logging
import math
import os
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from dispatch.alerts import (
    FAIL_REASON_LABELS,
    alert_open,
    alerts_resolve_keys,
    company_text,
    iso_or_none,
    publish_after_commit,
)
from dispatch.errors import DispatchError
from dispatch.models import Alert, Driver, DriverPosition, Order
from dispatch.roles import visible_depot_ids
from routes.models import Stop
from routes.plans.selectors import active_routes

logger = logging.getLogger(__name__)

# A phone's fix wanders a few metres while parked; a driver who stays within this radius has not moved.
IDLE_RADIUS_M = 50.0
# The depot-wide idle sweep on position intake runs at most this often per depot (the beat task covers the rest).
IDLE_SWEEP_EVERY_S = 60
OPEN_ORDER_STATUSES = Order.ON_ROUTE_STATUSES


def idle_alert_minutes() -> int:
    raw = getattr(settings, "IDLE_ALERT_MINUTES", None) or os.environ.get("IDLE_ALERT_MINUTES", "10")
    try:
        minutes = int(raw)
    except ValueError:
        raise ValueError(f"IDLE_ALERT_MINUTES must be a whole number of minutes, not {raw!r}") from None
    if minutes < 1:
        raise ValueError(f"IDLE_ALERT_MINUTES must be at least 1, not {minutes}")
    return minutes


# --- publishing --------------------------------------------------------------------------------


# --- writes ------------------------------------------------------------------------------------


# --- late --------------------------------------------------------------------------------------


def _hhmm(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%H:%M")


# An open late alert is re-worded (and re-sent to dashboards) when its lateness moves this much.
LATE_ALERT_STEP_MIN = 5


def late_alerts_sync(*, depot_id: int, driver_id: int | None, stops) -> None:
    """Open or resolve the late alerts of a route's open stops from their live ETAs.

    `stops`: Stop rows with `order` loaded and `live_eta` set. One query for the open late alerts.
    """
    keys = {f"late:{stop.order_id}": stop for stop in stops}
    open_late_min = {
        key: (data or {}).get("late_min")
        for key, data in Alert.objects.filter(dedup_key__in=list(keys), resolved_at__isnull=True).values_list(
            "dedup_key", "data"
        )
    }
    to_resolve = []
    for key, stop in keys.items():
        order = stop.order
        late = order.window_end is not None and stop.live_eta is not None and stop.live_eta > order.window_end
        if late:
            minutes = math.ceil((stop.live_eta - order.window_end).total_seconds() / 60)
            known = open_late_min.get(key)
            if isinstance(known, int) and abs(known - minutes) < LATE_ALERT_STEP_MIN:
                continue  # already open and about as late: no new text for every ETA refresh
            alert_open(
                depot_id=depot_id, kind=Alert.Kind.LATE, dedup_key=key, order_id=order.pk, driver_id=driver_id,
                message=company_text(
                    gettext_noop("%(order)s (%(customer)s) predicted %(minutes)s min late: ETA %(eta)s, window ends %(end)s"),
                    order=order.reference, customer=order.customer_name or order.address or "customer",
                    minutes=minutes, eta=_hhmm(stop.live_eta), end=_hhmm(order.window_end),
                ),
                data={"eta": iso_or_none(stop.live_eta), "window_end": iso_or_none(order.window_end), "late_min": minutes},
            )  # fmt: skip
        elif key in open_late_min:
            to_resolve.append(key)
    if to_resolve:
        alerts_resolve_keys(to_resolve)


# --- failed, and orders leaving the open states -------------------------------------------------


def on_order_status_changed(*, order_id, reference, depot_id, to_status, reason="", note="", **payload) -> None:
    """Event handler (dispatch.events): failed deliveries open an alert; done orders close theirs."""
    if to_status == Order.Status.FAILED:
        order = Order.objects.filter(pk=order_id).first()
        driver_id = None
        if order is not None:
            stop = Stop.objects.filter(order_id=order_id, route__driver__isnull=False).order_by("-id").first()
            driver_id = stop.route.driver_id if stop else None
        label = FAIL_REASON_LABELS.get(reason, reason or gettext_noop("no reason given"))
        text = company_text(gettext_noop("Delivery of %(order)s failed: %(reason)s"), order=reference, reason=label)
        if note:
            text += f" ({note})"
        alert_open(
            depot_id=depot_id, kind=Alert.Kind.FAILED, dedup_key=f"failed:{order_id}", order_id=order_id,
            driver_id=driver_id, message=text, data={"reason": reason, "note": note},
        )  # fmt: skip
    if to_status in (Order.Status.DELIVERED, Order.Status.FAILED, Order.Status.CANCELLED):
        alerts_resolve_keys([f"late:{order_id}"])
    if to_status in (Order.Status.NEW, Order.Status.PLANNED, Order.Status.CANCELLED):
        alerts_resolve_keys([f"failed:{order_id}"])


# --- idle --------------------------------------------------------------------------------------


def _distance_m(lat1, lon1, lat2, lon2) -> float:
    # Equirectangular: exact enough over the few hundred metres that matter here.
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return 6_371_000 * math.hypot(x, y)


def driver_idle_since(driver: Driver, now: datetime, window: timedelta) -> datetime | None:
    """When the driver stopped moving, if that is longer ago than `window`; None while moving or unknown."""
    if driver.last_position_at is None or driver.last_lat is None:
        return None
    if driver.last_position_at <= now - window:
        return driver.last_position_at  # no position at all for the whole window: the phone went quiet
    recent = DriverPosition.objects.filter(driver=driver, recorded_at__gt=now - window).values_list("lat", "lon")
    for lat, lon in recent:
        if _distance_m(lat, lon, driver.last_lat, driver.last_lon) > IDLE_RADIUS_M:
            return None
    # Still within the radius for the whole window; were we watching at its start?
    before = (
        DriverPosition.objects.filter(driver=driver, recorded_at__lte=now - window)
        .order_by("-recorded_at")
        .values_list("lat", "lon", "recorded_at")
        .first()
    )
    if before is None or _distance_m(before[0], before[1], driver.last_lat, driver.last_lon) > IDLE_RADIUS_M:
        return None
    return before[2]


def _drivers_with_open_stops(*, day, depot_id: int | None = None, driver_id: int | None = None) -> list[Driver]:
    routes = active_routes(day=day, depot_id=depot_id, driver_id=driver_id)
    return [route.driver for route in routes if route.driver is not None]


def idle_alerts_check(*, now: datetime | None = None, depot_id: int | None = None, driver_id: int | None = None) -> int:
    """Open idle alerts for drivers with open stops who have not moved; resolve those who moved.

    Returns the number of drivers found idle.
    """
    now = now or timezone.now()
    window = timedelta(minutes=idle_alert_minutes())
    drivers = _drivers_with_open_stops(day=timezone.localdate(now), depot_id=depot_id, driver_id=driver_id)
    idle = 0
    active_keys = set()
    for driver in drivers:
        key = f"idle:{driver.pk}"
        active_keys.add(key)
        since = driver_idle_since(driver, now, window)
        if since is None:
            alerts_resolve_keys([key])
            continue
        idle += 1
        minutes = int((now - since).total_seconds() // 60)
        quiet = driver.last_position_at <= now - window
        what = gettext_noop("no position") if quiet else gettext_noop("not moved")
        alert_open(
            depot_id=driver.depot_id, kind=Alert.Kind.IDLE, dedup_key=key, driver_id=driver.pk,
            message=company_text(
                gettext_noop("%(driver)s: %(what)s since %(since)s (open stops waiting)"),
                driver=driver.name, what=what, since=_hhmm(since),
            ),
            data={"since": iso_or_none(since), "minutes": minutes, "quiet": quiet},
        )  # fmt: skip
    if driver_id is None:
        # Drivers whose route has no open stops any more (or no route): their idle alerts no longer apply.
        stale = Alert.objects.filter(kind=Alert.Kind.IDLE, resolved_at__isnull=True).exclude(dedup_key__in=active_keys)
        if depot_id is not None:
            stale = stale.filter(depot_id=depot_id)
        alerts_resolve_keys(stale.values_list("dedup_key", flat=True))
    return idle


def on_driver_moved(*, driver_id, depot_id, **payload) -> None:
    """Event handler (dispatch.events): resolve this driver's idle alert once moving; sweep the depot.

    Opening idle alerts is the sweep's job (at most once a minute per depot, and the beat task), so a
    position costs one indexed query unless the driver has an open idle alert.
    """
    if Alert.objects.filter(dedup_key=f"idle:{driver_id}", resolved_at__isnull=True).exists():
        idle_alerts_check(driver_id=driver_id)
    # cache.add is atomic (Redis SET NX in production): one sweep per depot per minute across processes.
    if cache.add(f"alerts:idle-sweep:{depot_id}", 1, timeout=IDLE_SWEEP_EVERY_S):
        idle_alerts_check(depot_id=depot_id)


@shared_task(name="dispatch.alerts.check_idle_drivers", ignore_result=True)
def check_idle_drivers() -> int:
    """Beat task, every minute: idle alerts for every depot. Idempotent (open/resolve by key)."""
    return idle_alerts_check()


# Celery beat entry for config.celery (app.conf.beat_schedule.update(BEAT_SCHEDULE)).
BEAT_SCHEDULE = {"idle-drivers-every-minute": {"task": "dispatch.alerts.check_idle_drivers", "schedule": 60.0}}


# --- reads -------------------------------------------------------------------------------------


def alerts_visible_to(user, *, open_only: bool = False, depot_id: int | None = None):
    """Alerts of the depots the user sees, newest first (dispatch.roles decides the depots)."""

    queryset = Alert.objects.select_related("depot", "order", "driver", "resolved_by")
    allowed = visible_depot_ids(user)
    if allowed is not None:
        queryset = queryset.filter(depot_id__in=allowed)
    if open_only:
        queryset = queryset.filter(resolved_at__isnull=True)
    if depot_id is not None:
        queryset = queryset.filter(depot_id=depot_id)
    return queryset.order_by("-created_at", "-id")


# --- many at once, and the dashboards' views of them (the Alerts page, the nav's count) ----------------

# One bulk resolve covers at most this many alerts: a day's worth, and a bounded transaction.
MAX_BULK_RESOLVE = 1000


def alerts_resolve_many(*, user, alert_ids, at: datetime | None = None) -> dict[str, list[int]]:
    """Resolve the open alerts among `alert_ids` that the user may see, in one transaction.

    Each alert is checked on its own: an alert of a depot the user does not see is reported as
    `not_found` (as the single resolve answers 404) and left alone, while the others are resolved.
    Returns {"resolved": [...], "already_resolved": [...], "not_found": [...]}, ids ascending.
    """
    at = at or timezone.now()
    wanted = sorted({int(alert_id) for alert_id in alert_ids})
    if len(wanted) > MAX_BULK_RESOLVE:
        raise DispatchError(
            gettext("At most %(limit)s alerts can be resolved at once, not %(count)s.")
            % {"limit": MAX_BULK_RESOLVE, "count": len(wanted)},
            field="alerts", value=len(wanted),
        )  # fmt: skip
    resolver = user if getattr(user, "is_authenticated", False) else None
    visible = alerts_visible_to(user).select_related(None).filter(pk__in=wanted).order_by()
    with transaction.atomic():
        # Locked in id order (no deadlock with another bulk resolve); an automatic resolve of one of them
        # waits for this transaction, then finds it resolved and does nothing (its conditional update).
        open_alerts = list(visible.filter(resolved_at__isnull=True).select_for_update().order_by("pk"))
        open_ids = [alert.pk for alert in open_alerts]
        Alert.objects.filter(pk__in=open_ids, resolved_at__isnull=True).update(
            resolved_at=at, resolved_by=resolver, updated_at=at
        )
        for alert in open_alerts:
            alert.resolved_at, alert.resolved_by = at, resolver
            publish_after_commit(alert)
    seen = set(visible.values_list("pk", flat=True))
    return {
        "resolved": open_ids,
        "already_resolved": sorted(seen - set(open_ids)),
        "not_found": [alert_id for alert_id in wanted if alert_id not in seen],
    }


def open_alert_counts(user) -> dict[str, int]:
    """Open alerts of the user's depots per kind (one grouped query; the nav shows it on every page)."""
    from django.db.models import Count

    rows = alerts_visible_to(user, open_only=True).order_by().values("kind").annotate(n=Count("id"))
    return {row["kind"]: row["n"] for row in rows}
