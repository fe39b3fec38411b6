"""The lateness map: attempted deliveries as dots coloured by how late the driver arrived.

Built on dispatch.maps (vendored Leaflet, OSM credit); the dots are drawn by
`DispatchMap.lateness` from static/js/analytics.js, added to the map document here.
"""

from django.templatetags.static import static

from dispatch import maps

# (upper bound of delay in seconds, colour, label); None = no bound.
LATENESS_BANDS = (
    (0, "#16a34a", "On time"),
    (15 * 60, "#ca8a04", "Up to 15 min late"),
    (60 * 60, "#ea580c", "15–60 min late"),
    (None, "#b91c1c", "Over 60 min late"),
)
FAILED_COLOR, NO_WINDOW_COLOR = "#111827", "#64748b"


def lateness_color(point: dict) -> tuple[str, str]:
    if not point["delivered"]:
        return FAILED_COLOR, "Failed"
    if point["delay_s"] is None:
        return NO_WINDOW_COLOR, "No window"
    for bound, color, label in LATENESS_BANDS:
        if bound is None or point["delay_s"] <= bound:
            return color, label
    raise AssertionError("unreachable")


def lateness_map_html(*, points: list[dict], depots) -> str:
    depots = list(depots)
    fmap = maps.new_map()
    fmap.add_js_link("dispatch_analytics", static("js/analytics.js"))
    data = []
    for point in points:
        color, label = lateness_color(point)
        data.append(
            {
                "reference": point["reference"],
                "address": point["address"],
                "date": str(point["date"]),
                "late_min": None if point["delay_s"] is None else round(point["delay_s"] / 60),
                "reason": point["last_failure_reason"] if not point["delivered"] else "",
                "label": label,
                "color": color,
                "lat": point["lat"],
                "lon": point["lon"],
            }
        )
    fmap.add_child(maps.DataLayer("lateness", data))
    maps.add_depots(fmap, depots)
    legend = [{"label": label, "color": color} for _, color, label in LATENESS_BANDS]
    legend += [{"label": "Failed", "color": FAILED_COLOR}, {"label": "No window", "color": NO_WINDOW_COLOR}]
    fmap.add_child(maps.DataLayer("legend", legend))
    if points:
        maps.fit_map(fmap, [(p["lat"], p["lon"]) for p in points] + [(d.lat, d.lon) for d in depots])
    elif depots:
        maps.fit_map(fmap, [(d.lat, d.lon) for d in depots], max_zoom=12)
    return maps.render_map(fmap)
