"""The geocoder the order import uses for address-only rows.

Until the road network (and its address index) is loaded there is none, and the import says so.
"""


def default_geocoder():
    """A callable address -> (lat, lon) | None, or None when no geocoder is available."""
    return None
