"""Road-network engine: OSM loading, travel profiles, snapping, CCH matrices and
routes, road closures, time-of-day traffic and a local address geocoder.

Routes are legal and junction-aware: the CCH runs on a turn-aware graph (turn
restrictions, barriers, local-access-only roads, turn/U-turn/signal costs; see
graph.py and profiles.TurnCosts), and matrix distances are the fastest route's length.

Plain Python (no Django) so it is fast to test and to call from any process::

    from routes.network import build_network, RoadNetwork

    build_network("porto.osm.pbf", "var/network/porto")        # once, ~20-60 s
    net = RoadNetwork.load("var/network/porto")                 # per process, < 1 s
    result = net.matrix([(41.15, -8.61), (41.16, -8.63)], "car")
    result.durations_s, result.distances_m                      # seconds, metres
"""

from .engine import MatrixResult, RoadNetwork, RouteResult
from .errors import ClosureError, NetworkError, PointNotSnapped, RouteNotFound, UnknownProfile
from .geocoding import GeocodeCandidate, Geocoder, LocalGeocoder, NominatimGeocoder
from .prepared import PreparedNetworkError, build_network, prepared_is_current
from .profile_state import JUNCTION_CLASSES
from .profiles import PROFILES, ROAD_CLASSES
from .snapping import Snap
from .traffic import TrafficProfile

__all__ = [
    "ClosureError",
    "PROFILES",
    "ROAD_CLASSES",
    "GeocodeCandidate",
    "JUNCTION_CLASSES",
    "Geocoder",
    "LocalGeocoder",
    "MatrixResult",
    "NetworkError",
    "NominatimGeocoder",
    "PointNotSnapped",
    "PreparedNetworkError",
    "RoadNetwork",
    "RouteNotFound",
    "RouteResult",
    "Snap",
    "TrafficProfile",
    "UnknownProfile",
    "build_network",
    "prepared_is_current",
]
