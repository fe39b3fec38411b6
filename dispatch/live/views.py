"""The live map for dispatchers (/live/): vehicles moving on today's dispatched routes, and alerts.

The page draws with the vendored Leaflet directly in the page (not a folium iframe): it changes with
every live message from /ws/dispatch/, which is simpler without a frame boundary. The page gets the
day's state embedded; `/live/?format=json` answers the same state, which the page fetches again when
a plan changes version or after a reconnect (the socket's snapshot names plans, not their geometry).
"""

import math
from datetime import datetime

from django.conf import settings
from django.db.models import Q
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

from dispatch import alerts
from dispatch.live import alerts as live_alerts
from dispatch.live.broadcast import current_closures, dashboard_depot_ids
from dispatch.maps.basemap import base_map_assets, base_map_options
from dispatch.maps.drawing import OSM_CREDIT, STATUS_COLORS, route_color
from dispatch.models import Depot, Driver, Order, Vehicle
from dispatch.permissions import office_staff_required
from routes.flights import no_fly_zones_to_show
from routes.models import Route
from routes.plans.selectors import running_plans
from routes.plans.trips import current_trip, route_reloads
from routes.road_network import road_backdrop_lines


def _iso(moment):
    return moment.isoformat() if moment else None


def _metres(lat1, lon1, lat2, lon2) -> float:
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return 6_371_000 * math.hypot(x, math.radians(lat2 - lat1))


def stop_vertices(coordinates: list, stops: list[tuple[float, float]]) -> list[int]:
    """For each stop (lat, lon) in sequence, the index of the geometry vertex where the route reaches it.

    Searched forward from the previous stop's vertex; the first vertex within 5 m of the closest one
    wins, so a road that passes a stop's street again later does not pull the split point ahead.
    """
    found, start = [], 0
    for lat, lon in stops:
        distances = [_metres(lat, lon, c[1], c[0]) for c in coordinates[start:]]
        if not distances:
            found.append(len(coordinates) - 1)
            continue
        best = min(distances)
        index = start + next(i for i, d in enumerate(distances) if d <= best + 5)
        found.append(index)
        start = index
    return found


def _dispatched_plans(user, depot_ids: list[int]):
    plans = running_plans(user)  # the newest dispatched version: what drivers follow
    return [plan for plan in plans if plan.depot_id is None or plan.depot_id in depot_ids]


def _stop_changes(stops, previous_stops) -> dict:
    """How a route's stops differ from the same vehicle's route in the version it replaced."""
    after = {stop.order_id: stop for stop in stops}
    before = {stop.order_id: stop for stop in previous_stops}
    kept = [order_id for order_id in (stop.order_id for stop in stops) if order_id in before]
    kept_before = [stop.order_id for stop in previous_stops if stop.order_id in after]
    shifts = [abs((after[o].eta - before[o].eta).total_seconds()) for o in kept]
    return {
        "added": [stop.order.reference for stop in stops if stop.order_id not in before],
        "removed": [stop.order.reference for stop in previous_stops if stop.order_id not in after],
        "reordered": kept != kept_before,
        "eta_shift_max_min": round(max(shifts, default=0) / 60),
    }


def route_changes(plans) -> dict[int, dict]:
    """Route id -> what the re-plan that made its version changed on it, for routes it did change.

    A route is changed when its plan replaced a version that was already running (its parent was
    dispatched) and, against the same vehicle's route there, a stop joined or left, the order of
    stops changed, the road path changed (a detour around a closure), or an ETA moved by a minute or
    more. Only the newest re-plan counts: a route the one before changed is not marked again.
    """

    replans = [plan for plan in plans if plan.parent_id is not None and plan.parent.dispatched_at is not None]
    if not replans:
        return {}
    routes = (
        Route.objects.filter(plan__in=replans + [plan.parent for plan in replans])
        .select_related("plan")
        .prefetch_related("stops__order")
    )
    by_plan_vehicle = {(route.plan_id, route.vehicle_id): route for route in routes}
    changed = {}
    for plan in replans:
        vehicles = {vehicle for plan_id, vehicle in by_plan_vehicle if plan_id in (plan.pk, plan.parent_id)}
        for vehicle_id in vehicles:
            route = by_plan_vehicle.get((plan.pk, vehicle_id))
            previous = by_plan_vehicle.get((plan.parent_id, vehicle_id))
            if route is None:
                continue  # the vehicle left the plan: its stops show as moved on the routes they joined
            stops = sorted(route.stops.all(), key=lambda stop: stop.sequence)
            previous_stops = sorted(previous.stops.all(), key=lambda stop: stop.sequence) if previous else []
            changes = _stop_changes(stops, previous_stops)
            changes["detour"] = previous is not None and (route.geometry or {}).get("coordinates") != (
                previous.geometry or {}
            ).get("coordinates")
            moved = changes["added"] or changes["removed"] or changes["reordered"] or changes["detour"]
            if not moved and changes["eta_shift_max_min"] < 1:
                continue
            changed[route.pk] = {
                **changes,
                "reason": plan.reason,
                "version": plan.version,
                "previous_version": plan.parent.version,
                "at": _iso(plan.created_at),
            }
    return changed


def live_map_state(user) -> dict:
    """Everything the live map draws, for the depots the user sees."""

    depot_ids = dashboard_depot_ids(user=user) or []
    plans = _dispatched_plans(user, depot_ids)
    changed = route_changes(plans)
    routes = (
        Route.objects.filter(plan__in=plans)
        .select_related("plan", "vehicle", "driver")
        .prefetch_related("stops__order")
        .order_by("plan_id", "vehicle__name")
    )
    route_items = []
    for index, route in enumerate(routes):
        stops = sorted(route.stops.all(), key=lambda stop: stop.sequence)
        coordinates = (route.geometry or {}).get("coordinates") or []
        vertices = stop_vertices(coordinates, [(s.order.lat, s.order.lon) for s in stops]) if coordinates else []
        route_items.append(
            {
                "id": route.pk,
                "plan": route.plan_id,
                "version": route.plan.version,
                "depot": route.vehicle.depot_id,
                "driver": route.driver_id,
                "driver_name": route.driver.name if route.driver else "",
                "vehicle": route.vehicle_id,
                "vehicle_name": route.vehicle.name,
                "color": route_color(index),
                "flight": route.vehicle.kind == Vehicle.Kind.DRONE,  # a drone's straight flights, drawn dashed
                "changed": changed.get(route.pk),
                "coordinates": [[c[1], c[0]] for c in coordinates],  # Leaflet wants [lat, lon]
                # Multi-trip routes: where and when it reloads, and which trip the driver is on now.
                "reloads": [
                    {k: _iso(v) if isinstance(v, datetime) else v for k, v in reload.items()}
                    for reload in route_reloads(route)
                ],
                "trips": len(route.reloads or []) + 1,
                "trip": current_trip(route, stops, done_statuses=Order.DONE_STATUSES) if route.reloads else None,
                "stops": [
                    {
                        "id": stop.pk,
                        "order": stop.order_id,
                        "reference": stop.order.reference,
                        "customer_name": stop.order.customer_name,
                        "address": stop.order.address,
                        "sequence": stop.sequence,
                        "status": stop.order.status,
                        "lat": stop.order.lat,
                        "lon": stop.order.lon,
                        "eta": _iso(stop.eta),
                        "live_eta": _iso(stop.live_eta),
                        "window_start": _iso(stop.order.window_start),
                        "window_end": _iso(stop.order.window_end),
                        "vertex": vertex,
                    }
                    for stop, vertex in zip(stops, vertices or [0] * len(stops), strict=True)
                ],
            }
        )
    drivers = Driver.objects.filter(depot_id__in=depot_ids, active=True).select_related("vehicle")
    return {
        "at": _iso(timezone.now()),
        "depots": _depots_and_hubs(depot_ids, route_items),
        "plans": [{"plan": p.pk, "version": p.version, "depot": p.depot_id} for p in plans],
        "routes": route_items,
        "closures": current_closures(),
        "no_fly_zones": [
            {"name": zone.name, "reason": zone.reason, "polygon": zone.polygon}
            for zone in no_fly_zones_to_show(route.vehicle for route in routes)
        ],
        "drivers": [
            {
                "driver": d.pk,
                "name": d.name,
                "depot": d.depot_id,
                "vehicle": d.vehicle_id,
                "vehicle_name": d.vehicle.name if d.vehicle else "",
                "lat": d.last_lat,
                "lon": d.last_lon,
                "heading": d.last_heading,
                "recorded_at": _iso(d.last_position_at),
            }
            for d in drivers
        ],  # fmt: skip
        "alerts": [alerts.alert_message(a) for a in live_alerts.alerts_visible_to(user, open_only=True)[:200]],
    }


def _depots_and_hubs(depot_ids, route_items) -> list[dict]:
    """The user's depots, and the micro-hubs their routes reload at (drawn with their own marker)."""
    hubs = {r["depot_id"] for item in route_items for r in item["reloads"]}
    depots = Depot.objects.filter(Q(id__in=depot_ids) | Q(id__in=hubs))
    return list(depots.order_by("code").values("id", "code", "name", "lat", "lon", "is_micro_hub"))


@office_staff_required
def live_map(request):
    state = live_map_state(request.user)
    if request.GET.get("format") == "json":
        return JsonResponse(state)

    tile_url = settings.MAP_TILE_URL
    base_map = None if tile_url else base_map_options()
    # Without any tiles, the main roads of the loaded network are the map's background.
    backdrop = [] if tile_url or base_map else [[[lat, lon] for lon, lat in line] for line in road_backdrop_lines()]
    config = {
        "state": state,
        "statusColors": {str(k): v for k, v in STATUS_COLORS.items()},
        "tileUrl": tile_url,
        "tileAttribution": settings.MAP_TILE_ATTRIBUTION,
        "osmCredit": OSM_CREDIT,
        "baseMap": base_map,  # the region's vector tiles (dispatch.maps.basemap)
        "backdrop": backdrop,
        "socketPath": "/ws/dispatch/?positions=batched",
        "dataUrl": request.path + "?format=json",
        "alertsUrl": "/api/alerts/",
    }
    scripts, stylesheets = base_map_assets() if base_map else ([], [])
    return render(
        request, "live/live_map.html", {"config": config, "base_map_scripts": scripts, "base_map_css": stylesheets}
    )
