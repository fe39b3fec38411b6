"""The road network as every process (web, worker, command) sees it.

Each process loads the prepared network of the active RoadNetworkBuild once (no OSM parsing;
about a second) and keeps it. Closures and traffic profiles live in the database, so any process
may change them; before each use a process compares a cheap fingerprint of the active closures
and of the traffic profiles with what it applied last, and re-weights its copy (CCH
re-customization, milliseconds) when they differ. No process restart, no message bus needed.
"""

import logging
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from routes.errors import RoadNetworkUnavailable
from routes.models import RoadClosure, RoadNetworkBuild, TrafficProfile
from routes.network import RoadNetwork, build_network

logger = logging.getLogger(__name__)

# Vans and cars feel congestion; bikes mostly ride past it.
TRAFFIC_AFFECTED_PROFILES = ("car",)

_lock = threading.RLock()
_state: dict = {"network": None, "path": None, "closures": None, "traffic": None, "checked_at": 0.0}


def active_build() -> RoadNetworkBuild | None:
    return RoadNetworkBuild.objects.filter(active=True).order_by("-built_at").first()


def _closure_fingerprint(moment) -> tuple:
    return tuple(RoadClosure.objects.active_at(moment).order_by("id").values_list("id", "version"))


def _traffic_fingerprint() -> tuple:
    summary = TrafficProfile.objects.aggregate(latest=Max("updated_at"))
    return (TrafficProfile.objects.count(), summary["latest"])


def _apply_traffic(network: RoadNetwork) -> None:
    tables: dict[str, dict[str, list[float]]] = {"weekday": {}, "weekend": {}}
    for profile in TrafficProfile.objects.all():
        tables[profile.day_type][profile.road_class] = profile.hourly_factors
    for name in TRAFFIC_AFFECTED_PROFILES:
        if name in network.profiles:
            network.set_traffic_profile(name, weekday=tables["weekday"], weekend=tables["weekend"])


def _sync(network: RoadNetwork, moment) -> None:
    closures = _closure_fingerprint(moment)
    if closures != _state["closures"]:
        started = time.perf_counter()
        geometries = list(RoadClosure.objects.active_at(moment).order_by("id").values_list("geometry", flat=True))
        closed = network.set_closures(geometries)
        _state["closures"] = closures
        logger.info(
            "applied %d closures (%s arcs closed) in %.3f s", len(geometries), closed, time.perf_counter() - started
        )
    traffic = _traffic_fingerprint()
    if traffic != _state["traffic"]:
        _apply_traffic(network)
        _state["traffic"] = traffic


def get_road_network(*, moment=None, required: bool = True) -> RoadNetwork | None:
    """The process's network with the database's current closures and traffic applied."""
    moment = moment or timezone.now()
    with _lock:
        build = active_build()
        if build is None or not Path(build.path).is_dir():
            if required:
                raise RoadNetworkUnavailable()
            return None
        if _state["path"] != build.path:
            started = time.perf_counter()
            _state.update(network=RoadNetwork.load(build.path), path=build.path, closures=None, traffic=None)
            logger.info("loaded road network %s in %.2f s", build.path, time.perf_counter() - started)
        _sync(_state["network"], moment)
        return _state["network"]


def forget_loaded_network() -> None:
    """Drop this process's copy (tests, or after a rebuild in the same process)."""
    with _lock:
        _state.update(network=None, path=None, closures=None, traffic=None)


def network_directory_for(source: Path) -> Path:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return Path(settings.ROAD_NETWORK_DIR) / f"{source.name.split('.')[0]}-{stamp}"


def snap_distances_m(points: list[tuple[float, float]]) -> list[float | None] | None:
    """Metres from each (lat, lon) to the nearest usable road of any profile; None without a network.

    A cargo bike can reach a pedestrian street a van cannot, so the nearest road of any profile counts
    here; planning checks each vehicle's own profile again.
    """
    network = get_road_network(required=False)
    if network is None or not points:
        return None
    best: list[float | None] = [None] * len(points)
    for profile in network.profiles:
        for index, snap in enumerate(network.snap_many(points, profile)):
            if snap is not None and (best[index] is None or snap.distance_m < best[index]):
                best[index] = snap.distance_m
    return best


def road_backdrop_lines() -> list:
    """Main roads as [lon, lat] polylines for maps without tiles; [] without a network."""
    network = get_road_network(required=False)
    return network.road_lines("car", "tertiary_link") if network is not None else []


def road_network_build(*, source) -> RoadNetworkBuild:
    """Prepare `source` into a new directory and make it the network every process uses.

    The slow part (parsing, contraction) runs outside any transaction; only the switch is atomic.
    Processes notice the new active build on their next use and load it.
    """

    directory = network_directory_for(source)
    summary = build_network(str(source), str(directory))
    with transaction.atomic():
        RoadNetworkBuild.objects.filter(active=True).update(active=False)
        return RoadNetworkBuild.objects.create(source=str(source), path=str(directory), summary=summary, active=True)
