"""The exception type of the routes app; config.exceptions maps it to the API's error shape."""

from django.utils.translation import gettext

from config.errors import DomainError


class RoutingError(DomainError):
    """An error in routing, closures or plans."""


class RoadNetworkUnavailable(RoutingError):
    status_code = 503

    def __init__(self):
        super().__init__(
            gettext("No road network is loaded; run `manage.py load_road_network FILE.osm.pbf`"),
            field="road_network",
            value=None,
        )
