"""Server-side maps for the dashboard: folium builds the page, Leaflet comes from /static/ only.

The machines this runs on may have no internet access and customers' browsers must not talk to
third parties, so `LocalMap` replaces folium's CDN defaults (Leaflet, jQuery, Bootstrap, Font
Awesome, awesome-markers) with our vendored Leaflet and one small script of our own
(static/js/maps.js, an ES module: the layers are static/js/lib/map_layers.js, which the live map
imports too). Features are passed as JSON and drawn by that script: one data blob instead of a
JavaScript block per marker, and every text reaches the page through `textContent`, never as HTML.

Under the overlays, the base map: the region's vector tiles that the app builds and serves itself
(dispatch.maps.basemap, drawn by MapLibre GL inside Leaflet), or the company's own raster tile server
where settings.MAP_TILE_URL names one; before any tiles are built, the main roads of the loaded
network. The OpenStreetMap credit is shown on every map.

Usage (a page that shows a map):

    html = orders_map_html(orders=orders, depots=depots, zones=zones)
    # template: <iframe class="map-frame" srcdoc="{{ map_html }}"></iframe>

Later maps (live positions, plan routes) build on `new_map`, the `add_*` functions and
`render_map`; the layers are exposed to page scripts as `DispatchMap` objects (see maps.js).
"""

import json
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

import folium
from branca.element import Element, MacroElement
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.templatetags.static import static
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext
from folium.template import Template
from folium.vector_layers import path_options

from config.security_headers import current_csp_nonce
from dispatch.maps.basemap import base_map_assets, base_map_options
from dispatch.models import Depot, NoFlyZone, Order, Vehicle, Zone
from routes.road_network import road_backdrop_lines

OSM_CREDIT = (
    '© <a href="https://www.openstreetmap.org/copyright" target="_blank" rel="noopener">OpenStreetMap</a> contributors'
)
LEAFLET_CREDIT = '<a href="https://leafletjs.com" target="_blank" rel="noopener">Leaflet</a>'

# One colour per order status; the dashboard's badges use the same table.
STATUS_COLORS = {
    Order.Status.NEW: "#64748b",
    Order.Status.PLANNED: "#2563eb",
    Order.Status.DISPATCHED: "#7c3aed",
    Order.Status.EN_ROUTE: "#0891b2",
    Order.Status.ARRIVED: "#d97706",
    Order.Status.DELIVERED: "#16a34a",
    Order.Status.FAILED: "#dc2626",
    Order.Status.CANCELLED: "#a8a29e",
}

# Shown when there is nothing to fit the view to: the whole world, not a guessed city.
_WORLD = ([20.0, 0.0], 2)

_JSON_SCRIPT_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


def _json_for_script(data) -> str:
    """JSON that is safe inside a <script> element (no `</script>` can close it early)."""
    # DjangoJSONEncoder: labels are lazy translations (gettext_lazy), written in the active language.
    return json.dumps(data, ensure_ascii=False, cls=DjangoJSONEncoder).translate(_JSON_SCRIPT_ESCAPES)


class LocalMap(folium.Map):
    """A folium map whose JavaScript and CSS come from our static files, never a CDN."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("tiles", None)
        super().__init__(*args, **kwargs)
        # Instance attributes: folium's add_js_link/add_css_link mutate these lists in place,
        # and the class-level lists are shared by every map in the process.
        self.default_js = [("leaflet", static("vendor/leaflet/leaflet.js"))]
        # Our scripts are ES modules (`add_module_link`): they run once the document is parsed, in
        # document order, so after Leaflet and its plugins (classic scripts) and before the map's
        # set-up code, which `render_map` makes a module for that reason.
        self.module_js = [("dispatch_maps", static("js/maps.js"))]
        self.default_css = [
            ("leaflet_css", static("vendor/leaflet/leaflet.css")),
            ("dispatch_maps_css", static("css/maps.css")),
        ]

    def add_module_link(self, name: str, url: str) -> None:
        """Link a script of ours as `<script type="module">` (after static/js/maps.js)."""
        self._add_link(name, url, self.module_js)

    def render(self, **kwargs):
        super().render(**kwargs)
        header = self.get_root().header
        for name, url in self.module_js:
            header.add_child(_Markup(f'<script type="module" src="{escape(url)}"></script>'), name=name)


class _Markup(Element):
    """Finished markup, put into the document as it is.

    branca's `Element(text)` compiles its text as a Jinja template, and its MacroElement wraps each
    rendered macro in one: a map's data (JSON with the orders' names and addresses) went through
    Jinja's lexer again on every map (most of the time a map took to draw), and an order's "{{ … }}"
    ran as template code, its "{%" broke the page.
    """

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def render(self, **kwargs) -> str:
        # As Jinja renders a template: without one trailing newline.
        return self.text.removesuffix("\n")


class _FinishedMacroElement(MacroElement):
    """A MacroElement whose macros' output goes into the document as `_Markup`, never compiled again."""

    def render(self, **kwargs):
        figure = self.get_root()
        macros = self._template.module.__dict__
        for part, container in (("header", figure.header), ("html", figure.html), ("script", figure.script)):
            macro = macros.get(part)
            if macro is not None:
                container.add_child(_Markup(macro(self, kwargs)), name=self.get_name())
        for element in self._children.values():
            element.render(**kwargs)


class _Script(_FinishedMacroElement):
    """A line of map set-up code, rendered after the map exists."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            {{ this.code }}
        {% endmacro %}
        """
    )

    def __init__(self, code: str):
        super().__init__()
        self._name = "Script"
        self.code = code


class DataLayer(_FinishedMacroElement):
    """Features drawn by `DispatchMap.<kind>(map, data)` from static/js/maps.js.

    The layer is a page-level variable named `get_name()`, so later scripts can update it.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = DispatchMap.{{ this.kind }}({{ this._parent.get_name() }}, {{ this.data_json }});
        {% endmacro %}
        """
    )

    def __init__(self, kind: str, data):
        super().__init__()
        self._name = f"{kind}_layer"
        self.kind = kind
        self.data_json = _json_for_script(data)


def order_window_label(order: Order) -> str:
    """The delivery window in local time, e.g. "09:00–12:00", "from 14:00", "until 10:00", "any time"."""
    start = timezone.localtime(order.window_start) if order.window_start else None
    end = timezone.localtime(order.window_end) if order.window_end else None

    def hhmm(moment, *, is_end: bool = False) -> str:
        # A window that ends at midnight is stored as 00:00 of the next day; people say 24:00.
        if is_end and moment.hour == 0 and moment.minute == 0 and moment.date() > order.date:
            return "24:00"
        return moment.strftime("%H:%M")

    if start and end:
        return f"{hhmm(start)}–{hhmm(end, is_end=True)}"
    if start:
        return gettext("from %(time)s") % {"time": hhmm(start)}
    if end:
        return gettext("until %(time)s") % {"time": hhmm(end, is_end=True)}
    return gettext("any time")


def new_map(*, tile_url: str | None = None) -> LocalMap:
    """An empty map with the OSM credit, a scale bar and (when configured) a tile layer."""
    tile_url = getattr(settings, "MAP_TILE_URL", "") if tile_url is None else tile_url
    # Half-step zoom lets fit_map frame a region tightly instead of a whole level too far out.
    fmap = LocalMap(
        location=_WORLD[0],
        zoom_start=_WORLD[1],
        prefer_canvas=True,
        control_scale=True,
        zoom_snap=0.5,
        zoom_delta=0.5,
        font_size="13px",
    )
    root = fmap.get_root()
    # Links in popups and the attribution open outside the map's frame, not inside it.
    root.header.add_child(_Markup('<base target="_blank">'), name="base_target")
    fmap.add_child(
        _Script(
            f"{fmap.get_name()}.attributionControl.setPrefix({_json_for_script(f'{LEAFLET_CREDIT} | {OSM_CREDIT}')});"
        )
    )
    if not tile_url:
        options = base_map_options()
        if options is not None:
            add_base_map(fmap, options)
        else:
            add_road_backdrop(fmap)
    if tile_url:
        attribution = (
            getattr(settings, "MAP_TILE_ATTRIBUTION", "") or f"Tiles: {urlsplit(tile_url).hostname or 'local'}"
        )
        folium.TileLayer(tiles=tile_url, attr=attribution, max_zoom=19, name="tiles").add_to(fmap)
        root.header.add_child(_Markup("<style>.leaflet-container{background:#dde3ea}</style>"), name="tiles_bg")
    return fmap


def add_base_map(fmap: LocalMap, options: dict) -> DataLayer:
    """The region's streets, buildings, water and names from the tiles the app serves (dispatch.maps.basemap)."""
    scripts, stylesheets = base_map_assets()
    for index, url in enumerate(scripts):
        fmap.add_js_link(f"base_map_{index}", url)
    for index, url in enumerate(stylesheets):
        fmap.add_css_link(f"base_map_css_{index}", url)
    layer = DataLayer("baseMap", options)
    fmap.add_child(layer)
    return layer


class _RoadBackdrop(_FinishedMacroElement):
    """Folium's PolyLine of the main roads, its points written out once per loaded road network
    (`_backdrop_json`): folium checked and wrote the ~6,000 points again on every map of every page."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.polyline(
                {{ this.locations_json }},
                {{ this.options|tojson }}
            ).addTo({{this._parent.get_name()}});
        {% endmacro %}
        """
    )

    def __init__(self, lines: list):
        super().__init__()
        self._name = "PolyLine"
        self.locations_json = _backdrop_json(lines)
        self.options = path_options(
            line=True, color="#b8c0cc", weight=2, opacity=0.9, interactive=False, smooth_factor=1.5
        )


# (lines, their JSON): routes.road_network hands out the same list of lines while a network stays loaded.
_backdrop_written: list = [(None, "")]


def _backdrop_json(lines: list) -> str:
    written_for, written = _backdrop_written[0]
    if written_for is not lines:
        written = json.dumps([[[lat, lon] for lon, lat in line] for line in lines])  # Leaflet's [lat, lon]
        _backdrop_written[0] = (lines, written)
    return written


def add_road_backdrop(fmap: LocalMap) -> None:
    """Main roads of the loaded network as thin grey lines, so a map without tiles still shows streets."""

    lines = road_backdrop_lines()
    if lines:
        _RoadBackdrop(lines).add_to(fmap)


def add_zones(fmap: LocalMap, zones: Iterable[Zone]) -> DataLayer:
    data = [{"code": z.code, "name": z.name, "color": z.color, "polygon": z.polygon} for z in zones]
    layer = DataLayer("zones", data)
    fmap.add_child(layer)
    return layer


def _hhmm(value) -> str:
    # A depot created in this request still holds the field default, the string "07:00".
    return value.strftime("%H:%M") if hasattr(value, "strftime") else str(value)[:5]


def add_no_fly_zones(fmap: LocalMap, zones: Iterable[NoFlyZone]) -> DataLayer:
    """The active no-fly zones drones keep out of (their name and why)."""
    data = [{"name": z.name, "reason": z.reason, "polygon": z.polygon} for z in zones if z.active]
    layer = DataLayer("noFlyZones", data)
    fmap.add_child(layer)
    return layer


def add_depots(fmap: LocalMap, depots: Iterable[Depot]) -> DataLayer:
    data = [
        {
            "code": d.code,
            "name": d.name,
            "address": d.address,
            "hours": f"{_hhmm(d.opens)}–{_hhmm(d.closes)}",
            "lat": d.lat,
            "lon": d.lon,
            "is_micro_hub": d.is_micro_hub,
        }
        for d in depots
    ]
    layer = DataLayer("depots", data)
    fmap.add_child(layer)
    return layer


def add_orders(fmap: LocalMap, orders: Iterable[Order]) -> DataLayer:
    # Each status's name translated once: get_status_display() translates every choice on each call.
    status_labels = {status: str(label) for status, label in Order.Status.choices}
    data = [
        {
            "id": o.id,
            "reference": o.reference,
            "customer": o.customer_name,
            "address": o.address,
            "window": order_window_label(o),
            "status": o.status,
            "status_label": status_labels.get(o.status, o.status),
            "color": STATUS_COLORS.get(o.status, "#64748b"),
            "lat": o.lat,
            "lon": o.lon,
        }
        for o in orders
    ]
    layer = DataLayer("orders", data)
    fmap.add_child(layer)
    return layer


def add_legend(fmap: LocalMap, statuses: Iterable[str]) -> DataLayer:
    labels = dict(Order.Status.choices)
    data = [{"label": labels.get(s, s), "color": STATUS_COLORS.get(s, "#64748b")} for s in statuses]
    layer = DataLayer("legend", data)
    fmap.add_child(layer)
    return layer


def fit_map(fmap: LocalMap, points: Iterable[tuple[float, float]], *, max_zoom: int = 15) -> None:
    """Frame the given (lat, lon) points; with none, the world view stays."""
    points = list(points)
    if not points:
        return
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    fmap.location = [(min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2]
    fmap.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]], padding=(24, 24), max_zoom=max_zoom)


# The opening tags of folium's inline elements (its map set-up script and a few style blocks).
_INLINE_ELEMENT = re.compile(r"<(script|style)(?=[\s>])")
# The set-up code at the end of branca's Figure: it calls DispatchMap, which a module defines.
_SETUP_SCRIPT = re.compile(r"</body>\s*<script>")


def render_map(fmap: LocalMap) -> str:
    """The map as a complete HTML document (for an iframe's srcdoc).

    A srcdoc document runs under the page's Content-Security-Policy, so its inline elements carry
    the nonce of the response being built (config.security_headers). Stamping every tag is safe
    here because no tag in this document comes from data: every datum enters as JSON with "<"
    escaped (`_json_for_script`, Jinja's tojson), so text from an order cannot open an element.
    """
    document, count = _SETUP_SCRIPT.subn('</body>\n<script type="module">', fmap.get_root().render(), count=1)
    if count != 1:
        raise RuntimeError("folium's map document has no set-up script after </body>")
    nonce = current_csp_nonce()
    return _INLINE_ELEMENT.sub(rf'<\1 nonce="{nonce}"', document) if nonce else document


def warm_up() -> None:
    """Draw an empty map once, as a server starts (config.warm_up): the page's first map then does not
    pay for folium's and branca's templates, nor, without tiles, for loading the road network and
    tracing its backdrop (about 0.1 s between them)."""
    render_map(new_map())


def orders_map_html(*, orders: Iterable[Order], depots: Iterable[Depot], zones: Iterable[Zone]) -> str:
    """Orders as circles coloured by status, depots as labelled squares, zones as light areas."""
    orders, depots, zones = list(orders), list(depots), list(zones)
    fmap = new_map()
    add_zones(fmap, zones)
    add_orders(fmap, orders)
    add_depots(fmap, depots)
    add_legend(fmap, [s for s in STATUS_COLORS if any(o.status == s for o in orders)])
    if orders:
        used_depots = {o.depot_id for o in orders}
        fit_map(fmap, [(o.lat, o.lon) for o in orders] + [(d.lat, d.lon) for d in depots if d.id in used_depots])
    elif depots:
        fit_map(fmap, [(d.lat, d.lon) for d in depots], max_zoom=12)
    return render_map(fmap)


def position_age_label(moment, *, now=None) -> str:
    """How long ago a position was recorded, e.g. "14:05, 3 min ago" (local time)."""
    minutes = max(0, int(((now or timezone.now()) - moment).total_seconds() // 60))
    if minutes < 1:
        age = gettext("just now")
    elif minutes < 60:
        age = gettext("%(minutes)s min ago") % {"minutes": minutes}
    else:
        age = gettext("%(hours)s h %(minutes)s min ago") % {"hours": minutes // 60, "minutes": minutes % 60}
    return f"{_local_hhmm(moment)}, {age}"


def add_driver_position(fmap: LocalMap, *, name: str, lat: float, lon: float, at, now=None) -> DataLayer:
    """A driver where last seen, labelled with the name and how old the position is."""
    label = f"{name} · {position_age_label(at, now=now)}"
    layer = DataLayer("driverPosition", {"name": name, "lat": lat, "lon": lon, "at": at, "label": label})
    fmap.add_child(layer)
    return layer


def order_map_html(*, order: Order, route=None, depots: Iterable[Depot], zones: Iterable[Zone], driver=None) -> str:
    """An order's page: the route serving it (its line, the order's stop emphasized, the other stops faint)
    or, on no route, the order alone; its depot and zone; and `driver` (name, lat, lon, at: where the
    route's driver was last seen) while the route is being driven."""
    depots, zones = list(depots), list(zones)
    fmap = new_map()
    add_zones(fmap, zones)
    if route is not None:
        add_routes(fmap, [route], focus_order=order.id)
    else:
        add_orders(fmap, [order])
        add_legend(fmap, [order.status])
    add_depots(fmap, depots)
    points = _route_points([route]) if route is not None else [(order.lat, order.lon)]
    if driver is not None:
        add_driver_position(fmap, name=driver.name, lat=driver.lat, lon=driver.lon, at=driver.at)
        points.append((driver.lat, driver.lon))
    fit_map(fmap, points + [(d.lat, d.lon) for d in depots])
    return render_map(fmap)


# --- Plans and road closures -------------------------------------------------------------------
# Their layer functions are DispatchMap's like all others (static/js/lib/map_layers.js); the pages
# around these maps (static/js/plans.js, closures.js) talk to them through the frame.

# One colour per route, in the order the plan lists its routes. No reds: red means a closure or an
# order the plan could not serve.
ROUTE_COLORS = (
    "#2563eb", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#c026d3",
    "#65a30d", "#0d9488", "#ca8a04", "#4f46e5", "#db2777", "#475569",
)  # fmt: skip
UNASSIGNED_COLOR = "#dc2626"
CLOSURE_COLOR = "#dc2626"


def _add_plan_assets(fmap: LocalMap) -> None:
    # Routes, stops, closures and the drawing tools share one stylesheet.
    fmap.add_css_link("dispatch_plans_css", static("css/plans.css"))


def route_color(index: int) -> str:
    return ROUTE_COLORS[index % len(ROUTE_COLORS)]


def _local_hhmm(moment) -> str:
    return timezone.localtime(moment).strftime("%H:%M") if moment else ""


def _local_datetime_label(moment) -> str:
    return timezone.localtime(moment).strftime("%a %d %b %H:%M") if moment else ""


def add_routes(fmap: LocalMap, routes, *, focus_order: int | None = None) -> DataLayer:
    """Each route's road path in its own colour (`route_color` of its index) with numbered stops.

    `routes` are routes.models.Route rows with `vehicle`, `driver` and `stops` (with `order`) loaded.
    With `focus_order` (an order's page) that order's stop stands out and the other stops are faint.
    """
    _add_plan_assets(fmap)
    data = []
    focus = {"focus": focus_order} if focus_order is not None else {}
    for index, route in enumerate(routes):
        data.append(
            {
                **focus,
                "id": route.id,
                "vehicle_id": route.vehicle_id,
                "vehicle": route.vehicle.name,
                "driver": route.driver.name if route.driver else "",
                "color": route_color(index),
                "geometry": route.geometry or None,
                "flight": route.vehicle.kind == Vehicle.Kind.DRONE,  # straight flights, drawn dashed
                "stops": [
                    {
                        "order": stop.order_id,
                        "sequence": stop.sequence,
                        "reference": stop.order.reference,
                        "customer": stop.order.customer_name,
                        "address": stop.order.address,
                        "window": order_window_label(stop.order),
                        "eta": _local_hhmm(stop.eta),
                        "etd": _local_hhmm(stop.etd),
                        "late_min": round(stop.late_s / 60),
                        "lat": stop.order.lat,
                        "lon": stop.order.lon,
                    }
                    for stop in route.stops.all()
                ],
            }
        )
    layer = DataLayer("routes", data)
    fmap.add_child(layer)
    return layer


def add_unassigned(fmap: LocalMap, unassigned) -> DataLayer:
    """Orders a plan could not serve (routes.models.UnassignedOrder rows with `order` loaded)."""
    _add_plan_assets(fmap)
    data = [
        {
            "order": u.order_id,
            "reference": u.order.reference,
            "customer": u.order.customer_name,
            "address": u.order.address,
            "window": order_window_label(u.order),
            "reason": u.reason,
            "color": UNASSIGNED_COLOR,
            "lat": u.order.lat,
            "lon": u.order.lon,
        }
        for u in unassigned
    ]
    layer = DataLayer("unassigned", data)
    fmap.add_child(layer)
    return layer


def add_closures(fmap: LocalMap, closures) -> DataLayer:
    """Road closures as red lines or areas (dashed while they have not started yet)."""
    _add_plan_assets(fmap)
    now = timezone.now()
    data = [
        {
            "id": c.id,
            "geometry": c.geometry,
            "reason": c.reason,
            "starts": _local_datetime_label(c.starts_at),
            "ends": _local_datetime_label(c.ends_at) or "until lifted",
            "by": (c.created_by.get_full_name() or c.created_by.username) if c.created_by else "",
            "upcoming": c.starts_at > now,
            "color": CLOSURE_COLOR,
        }
        for c in closures
    ]
    layer = DataLayer("closures", data)
    fmap.add_child(layer)
    return layer


def enable_closure_drawing(fmap: LocalMap) -> DataLayer:
    """Leaflet.draw's line and polygon tools; a drawn shape is posted to the page around the map.

    The map lives in an iframe (srcdoc, same origin as the page); static/js/lib/map_layers.js inside
    it sends `{"type": "dispatch:closure-drawn", "geometry": GeoJSON | null}` to the parent window.
    """
    fmap.add_js_link("leaflet_draw", static("vendor/leaflet-draw/leaflet.draw.js"))
    fmap.add_css_link("leaflet_draw_css", static("vendor/leaflet-draw/leaflet.draw.css"))
    _add_plan_assets(fmap)
    layer = DataLayer("closureDrawing", {"color": CLOSURE_COLOR})
    fmap.add_child(layer)
    return layer


def enable_plan_editing(fmap: LocalMap, vehicles: list[dict]) -> DataLayer:
    """A "Move to route…" choice in each stop's and unassigned order's popup.

    The map lives in an iframe (srcdoc, same origin as the page); static/js/lib/map_layers.js inside
    it sends `{"type": "dispatch:plan-move", "order": id, "vehicle": id | null}` to the parent window
    (null: take the order out of the routes), and the page calls the plan edit API.
    `vehicles`: [{"id", "name", "color"}] an order may be moved to.
    """
    _add_plan_assets(fmap)
    layer = DataLayer("planEditing", {"vehicles": [{k: v[k] for k in ("id", "name", "color")} for v in vehicles]})
    fmap.add_child(layer)
    return layer


def _route_points(routes) -> list[tuple[float, float]]:
    points = []
    for route in routes:
        coordinates = (route.geometry or {}).get("coordinates") or []
        points.extend((lat, lon) for lon, lat, *_ in coordinates)
        points.extend((s.order.lat, s.order.lon) for s in route.stops.all())
    return points


def _closure_points(closures) -> list[tuple[float, float]]:
    points = []
    for closure in closures:
        geometry = closure.geometry or {}
        rings = geometry.get("coordinates") or []
        positions = rings if geometry.get("type") == "LineString" else [p for ring in rings for p in ring]
        points.extend((lat, lon) for lon, lat, *_ in positions)
    return points


def plan_map_html(
    *, routes, unassigned, depots: Iterable[Depot], closures=(), editing_vehicles=None, no_fly_zones=()
) -> str:
    """A plan's routes (road geometry, numbered stops; a drone's straight flights), its unassigned
    orders, depots, closures and, when it flies drones, the no-fly zones.

    With `editing_vehicles` (see `enable_plan_editing`) the popups offer to move an order to a route.
    """
    routes, unassigned, depots, closures = list(routes), list(unassigned), list(depots), list(closures)
    fmap = new_map()
    if editing_vehicles is not None:
        enable_plan_editing(fmap, editing_vehicles)
    if closures:
        add_closures(fmap, closures)
    if no_fly_zones:
        add_no_fly_zones(fmap, no_fly_zones)
    add_routes(fmap, routes)
    add_unassigned(fmap, unassigned)
    add_depots(fmap, depots)
    legend = [{"label": r.vehicle.name, "color": route_color(i)} for i, r in enumerate(routes)]
    if unassigned:
        legend.append({"label": "Not planned", "color": UNASSIGNED_COLOR})
    fmap.add_child(DataLayer("legend", legend))
    points = _route_points(routes) + [(u.order.lat, u.order.lon) for u in unassigned]
    if points:
        fit_map(fmap, points + [(d.lat, d.lon) for d in depots])
    elif depots:
        fit_map(fmap, [(d.lat, d.lon) for d in depots], max_zoom=12)
    return render_map(fmap)


def closures_map_html(
    *, closures, depots: Iterable[Depot], zones: Iterable[Zone] = (), routes=(), drawing: bool = True
) -> str:
    """Current and upcoming closures over the depots, zones and running `routes` (the dispatched
    versions drivers follow, so a dispatcher sees which vans drive where they close a road), with the
    drawing tools when `drawing`.

    The base map shows the streets a closure is drawn on (see `new_map`).
    """
    closures, depots, zones, routes = list(closures), list(depots), list(zones), list(routes)
    fmap = new_map()
    add_zones(fmap, zones)
    if routes:
        add_routes(fmap, routes)
        fmap.add_child(
            DataLayer("legend", [{"label": r.vehicle.name, "color": route_color(i)} for i, r in enumerate(routes)])
        )
    add_closures(fmap, closures)
    add_depots(fmap, depots)
    if drawing:
        enable_closure_drawing(fmap)
    points = _closure_points(closures) + _route_points(routes) + [(d.lat, d.lon) for d in depots]
    for zone in zones:
        points.extend((lat, lon) for lon, lat, *_ in (zone.polygon or {}).get("coordinates", [[]])[0])
    if points:
        fit_map(fmap, points, max_zoom=14)
    return render_map(fmap)
