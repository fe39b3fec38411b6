"""The geocoder the order import uses for address-only rows.

`GEOCODER=local` (the default) searches the address index built from the loaded OSM extract;
`GEOCODER=nominatim` asks a Nominatim server (NOMINATIM_DOMAIN) through geopy for deployments that
have one. With no road network loaded there is no local geocoder, and the import says so.
"""

from django.conf import settings

from routes.network import NominatimGeocoder
from routes.road_network import get_road_network


def geocoder():
    """The configured Geocoder (search/geocode_one), or None when none is available."""
    if settings.GEOCODER == "nominatim":
        return NominatimGeocoder(settings.NOMINATIM_USER_AGENT, domain=settings.NOMINATIM_DOMAIN or None)

    network = get_road_network(required=False)
    return network.geocoder if network is not None else None


def default_geocoder():
    """A callable address -> (lat, lon) | None for the import, or None when there is no geocoder."""
    backend = geocoder()
    if backend is None:
        return None

    def geocode(address: str):
        hit = backend.geocode_one(address)
        return (hit["lat"], hit["lon"]) if hit else None

    return geocode
