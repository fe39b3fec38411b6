"""The road network as every process (web, worker, command) sees it.

Each process loads the prepared network of the active RoadNetworkBuild once (no OSM parsing;
about a second) and keeps it. Closures and traffic profiles live in the database, so any process
may change them; before each use a process compares a cheap fingerprint of the active closures
and of the traffic profiles with what it applied last, and re-weights its copy (CCH
re-customization, milliseconds) when they differ. No process restart, no message bus needed.

The active learned travel model (routes.models.TravelModel) propagates the same way: its version
is part of the fingerprint, and a process that sees a new one reads the row's speed factors once
and hands them, with the model's leg scale (routes.learning.calibration), to its network
(``RoadNetwork.set_learned_speeds``); the time metrics of each slot
are then customized on first use. ``applied_travel_model_version()`` says which version this
process's network is driving with (a plan records it).
"""

import io
import logging
import threading
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from routes.errors import RoadNetworkUnavailable
from routes.models import RoadClosure, RoadNetworkBuild, TrafficProfile, TravelModel
from routes.network import RoadNetwork, build_network

logger = logging.getLogger(__name__)

# Vans and cars feel congestion; bikes mostly ride past it.
TRAFFIC_AFFECTED_PROFILES = ("car",)

_lock = threading.RLock()
_state: dict = {
    "network": None,
    "path": None,
    "closures": None,
    "traffic": None,
    "model": None,
    "model_version": None,
    "checked_at": 0.0,
}


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


def _travel_model_fingerprint() -> tuple | None:
    row = TravelModel.objects.filter(active=True).values_list("id", "version").first()
    return tuple(row) if row else None


def travel_model_speeds(model: TravelModel) -> dict[str, np.ndarray]:
    """The learned speed factors of a model per profile, (day types, 24, chains) float32 (3 day types, or
    2 in versions learned before Saturday and Sunday were told apart); {} without any."""
    if not model.speeds:
        return {}
    with np.load(io.BytesIO(bytes(model.speeds))) as data:
        return {name: data[name].astype(np.float32) for name in data.files}


def _apply_travel_model(network: RoadNetwork, fingerprint: tuple | None) -> None:
    speeds: dict[str, np.ndarray] = {}
    scales: dict[str, list] = {}
    junctions: dict[str, dict] = {}
    version = None
    if fingerprint is not None:
        model = TravelModel.objects.filter(pk=fingerprint[0]).first()
        if model is not None:
            speeds, version = travel_model_speeds(model), model.version
            scales = (model.parameters or {}).get("leg_scale") or {}
            junctions = (model.parameters or {}).get("junction_factors") or {}
    for name in network.profiles:
        factors = speeds.get(name)
        learned = factors is not None  # a profile without learned speeds is driven with every default
        try:
            network.set_learned_speeds(
                name, version, factors, scales.get(name) if learned else None, junctions.get(name) if learned else None
            )
        except ValueError as error:
            # learned on another road network build (its chains are not this network's), or a bad parameter
            logger.warning("travel model v%s does not fit the road network's %s graph (%s); using defaults",
                           version, name, error)  # fmt: skip
            network.set_learned_speeds(name, None, None)
    _state["model_version"] = version
    logger.info("travel model v%s applied (%s)", version, ", ".join(sorted(speeds)) or "no learned speeds")


def applied_travel_model_version() -> int | None:
    """The learned travel model version this process's network drives with (None: the defaults)."""
    return _state["model_version"]


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
    model = _travel_model_fingerprint()
    if model != _state["model"]:
        _apply_travel_model(network, model)
        _state["model"] = model


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
            _state.update(
                network=RoadNetwork.load(build.path), path=build.path, closures=None, traffic=None, model=None
            )
            logger.info("loaded road network %s in %.2f s", build.path, time.perf_counter() - started)
        _sync(_state["network"], moment)
        return _state["network"]


def forget_loaded_network() -> None:
    """Drop this process's copy (tests, or after a rebuild in the same process)."""
    with _lock:
        _state.update(network=None, path=None, closures=None, traffic=None, model=None, model_version=None)


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
