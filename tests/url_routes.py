"""Every route of config.urls, for the tests that must have a row for each (permissions, headers)."""

from django.urls import URLPattern, URLResolver, get_resolver


def all_routes() -> dict[str, URLPattern]:
    """Route string (as written in the URLconfs, joined) -> its URLPattern."""
    found = {}

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                found[prefix + str(pattern.pattern)] = pattern

    walk(get_resolver().url_patterns, "")
    return found


def view_of(pattern: URLPattern):
    """The view class behind a route (DRF and Django class-based views), else the view function."""
    callback = pattern.callback
    return getattr(callback, "view_class", None) or getattr(callback, "cls", callback)
