"""The lateness map: attempted deliveries as dots coloured by how late the driver arrived.

Built on dispatch.maps.drawing (vendored Leaflet, OSM credit); the dots are drawn by
`DispatchMap.lateness` from static/js/analytics.js, added to the map document here.
"""

from django.templatetags.static import static

from dispatch.maps import drawing as maps

# (upper bound of delay in seconds, colour, label); None = no bound.
LATENESS_BANDS = (
    (0, "#16a34a", "On time"),
    (15 * 60, "#ca8a04", "Up to 15 min late"),
    (60 * 60, "#ea580c", "15–60 min late"),
    (None, "#b91c1c", "Over 60 min late"),
)
FAILED_COLOR, NO_WINDOW_COLOR = "#111827", "#64748b"


# Legend order; a point names its band by index in this list (see `lateness_band`).
BANDS = [{"label": label, "color": color} for _, color, label in LATENESS_BANDS] + [
    {"label": "Failed", "color": FAILED_COLOR},
    {"label": "No window", "color": NO_WINDOW_COLOR},
]


def lateness_band(point: dict) -> int:
    """The index in BANDS of a delivery's colour: its lateness band, failed, or no window."""
    if not point["delivered"]:
        return len(LATENESS_BANDS)
    if point["delay_s"] is None:
        return len(LATENESS_BANDS) + 1
    for index, (bound, _, _) in enumerate(LATENESS_BANDS):
        if bound is None or point["delay_s"] <= bound:
            return index
    raise AssertionError("unreachable")


def lateness_color(point: dict) -> tuple[str, str]:
    band = BANDS[lateness_band(point)]
    return band["color"], band["label"]


def lateness_map_html(*, points: list[dict], depots) -> str:
    depots = list(depots)
    fmap = maps.new_map()
    fmap.add_module_link("dispatch_analytics", static("js/analytics.js"))
    # One short array per point instead of an object with the same keys 1,500 times: the map
    # document travels inside the page (srcdoc), so its size is the page's size.
    # Layout (static/js/analytics.js reads it): [lat, lon, band, late_min, date, reference, address, reason]
    data = [
        [
            round(point["lat"], 5),
            round(point["lon"], 5),
            lateness_band(point),
            None if point["delay_s"] is None else round(point["delay_s"] / 60),
            str(point["date"]),
            point["reference"],
            point["address"],
            point["last_failure_reason"] if not point["delivered"] else "",
        ]
        for point in points
    ]
    fmap.add_child(maps.DataLayer("lateness", {"bands": BANDS, "points": data}))
    maps.add_depots(fmap, depots)
    fmap.add_child(maps.DataLayer("legend", BANDS))
    if points:
        maps.fit_map(fmap, [(p["lat"], p["lon"]) for p in points] + [(d.lat, d.lon) for d in depots])
    elif depots:
        maps.fit_map(fmap, [(d.lat, d.lon) for d in depots], max_zoom=12)
    return maps.render_map(fmap)


# Learned speed ÷ default speed (analytics.eta_accuracy.speed_ratio_lines), diverging: reds where the
# fleet drives slower than the map assumed, blues where faster. (upper bound of the ratio, colour, label).
SPEED_RATIO_BANDS = (
    (0.6, "#b2182b", "Under 60 % of the default speed"),
    (0.8, "#ef8a62", "60–80 %"),
    (0.95, "#fddbc7", "80–95 %"),
    (1.05, "#f7f7f7", "About the default"),
    (1.25, "#67a9cf", "105–125 %"),
    (None, "#2166ac", "Over 125 %"),
)
SPEED_BANDS = [{"label": label, "color": color} for _, color, label in SPEED_RATIO_BANDS]


def speed_ratio_band(ratio: float) -> int:
    for index, (bound, _, _) in enumerate(SPEED_RATIO_BANDS):
        if bound is None or ratio < bound:
            return index
    raise AssertionError("unreachable")


def speed_ratio_map_html(*, lines: list[dict], depots) -> str:
    """The road stretches whose learned speed differs from the default, coloured by the ratio
    (drawn by `DispatchMap.speedRatio` from static/js/analytics.js)."""
    depots = list(depots)
    fmap = maps.new_map()
    fmap.add_module_link("dispatch_analytics", static("js/analytics.js"))
    # Layout (static/js/analytics.js reads it): [band, ratio, road class, [[lon, lat], ...]]
    data = [[speed_ratio_band(line["ratio"]), line["ratio"], line["road_class"], line["line"]] for line in lines]
    fmap.add_child(maps.DataLayer("speedRatio", {"bands": SPEED_BANDS, "lines": data}))
    maps.add_depots(fmap, depots)
    fmap.add_child(maps.DataLayer("legend", SPEED_BANDS))
    points = [(lat, lon) for line in lines for lon, lat in (line["line"][0], line["line"][-1])]
    if points:
        maps.fit_map(fmap, points + [(d.lat, d.lon) for d in depots])
    elif depots:
        maps.fit_map(fmap, [(d.lat, d.lon) for d in depots], max_zoom=12)
    return maps.render_map(fmap)
