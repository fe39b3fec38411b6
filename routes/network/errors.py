"""One exception family for the road network, so callers map it to one error shape."""


class NetworkError(Exception):
    """Base class of road-network errors."""


class UnknownProfile(NetworkError, KeyError):
    def __init__(self, profile: str, known):
        super().__init__(f"unknown travel profile {profile!r}; known: {sorted(known)}")
        self.profile = profile


class PointNotSnapped(NetworkError):
    """A point has no usable road within the snap limit."""

    def __init__(self, index: int, point, max_distance_m):
        limit = f" within {max_distance_m:g} m" if max_distance_m is not None else ""
        super().__init__(f"point {index} {tuple(point)} has no usable road{limit}")
        self.index = index
        self.point = point


class RouteNotFound(NetworkError):
    """No road path joins two consecutive points (closures, one-ways, islands)."""

    def __init__(self, leg: int):
        super().__init__(f"no road route for leg {leg} (point {leg} to point {leg + 1})")
        self.leg = leg


class ClosureError(NetworkError, ValueError):
    """A closure geometry we cannot interpret (type, or too few positions)."""
