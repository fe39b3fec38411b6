/* The driver app's route map (templates/driver/app.html, the "Route map" tab beside the list of stops).
 *
 * static/js/driver.js owns the route and the statuses (queued actions included) and calls draw(model)
 * whenever it renders; this module draws with the shared layers of static/js/lib/map_layers.js:
 * the route's road path (from the depot and back), its numbered stops coloured by status (the next one
 * larger) and the phone's own position. A tap on an open stop selects it in the app, as a tap in the
 * list does.
 *
 * Under them, the streets: the company's tile server (MAP_TILE_URL) or the region's vector tiles the
 * app serves (static/js/basemap.js), asked for only with signal. Without signal the route and stops
 * still draw from the route the phone saved, and the map says that streets may be missing.
 */

import { el } from "./lib/dom.js";
import { gettext, interpolate } from "./lib/i18n.js";
import { baseMap, routeLine, stopIcon } from "./lib/map_layers.js";

var ROUTE_COLOR = "#1d4ed8"; // static/css/driver.css: --accent
var LEAFLET_CREDIT = '<a href="https://leafletjs.com" target="_blank" rel="noopener">Leaflet</a>';
var LEGEND = ["dispatched", "arrived", "delivered", "failed"];

var config = JSON.parse(document.getElementById("driver-initial").textContent).map || {};
var map = null;
var streets = null; // the base layer, once added (with signal)
var line = null;
var lineKey = null; // the route (plan, version, id) the line and the view were drawn for
var stops = null;
var me = null;
var meAccuracy = null;
var lastModel = null;
var framed = false; // Leaflet draws nothing (and Paths fail) before the map has a view

function create() {
  var container = document.getElementById("route-map");
  map = L.map(container, { zoomSnap: 0.5, zoomDelta: 0.5, maxZoom: 19 });
  map.attributionControl.setPrefix(LEAFLET_CREDIT);
  map.attributionControl.addAttribution(config.osm_credit);
  document.getElementById("route-map-fit").addEventListener("click", fitRoute);
  document.getElementById("route-map-me").addEventListener("click", function () {
    if (me) map.setView(me.getLatLng(), Math.max(map.getZoom(), 16));
  });
}

function hasStreets() {
  return !!(config.tile_url || config.base_map);
}

// The streets are asked for only with signal: offline, every tile would be a failed request.
function addStreets(online) {
  if (streets || !online || !hasStreets()) return;
  if (config.tile_url) {
    streets = L.tileLayer(config.tile_url, { maxZoom: 19, attribution: config.tile_attribution || "" }).addTo(map);
  } else {
    streets = baseMap(map, config.base_map) || "none"; // null without WebGL: not asked for again
  }
}

function note(online) {
  var box = document.getElementById("route-map-note");
  var text = "";
  if (!online && hasStreets()) {
    text = streets
      ? gettext("No signal: streets you have not seen yet are missing. Route and stops as last loaded.")
      : gettext("No signal: the streets show when the signal returns. Route and stops as last loaded.");
  }
  box.textContent = text;
  box.hidden = !text;
}

function routeBounds(model) {
  var bounds = L.latLngBounds([]);
  var path = (model.route.geometry && model.route.geometry.coordinates) || [];
  path.forEach(function (position) { bounds.extend([position[1], position[0]]); });
  model.stops.forEach(function (item) { bounds.extend([item.stop.lat, item.stop.lon]); });
  return bounds;
}

function fitRoute() {
  if (!lastModel) return;
  var bounds = routeBounds(lastModel);
  if (!bounds.isValid()) return;
  map.fitBounds(bounds, { padding: [36, 36], maxZoom: 16 }); // the next stop's marker is 40 px wide
  framed = true;
}

function routeKey(route) {
  return [route.plan, route.version, route.id].join(":");
}

function drawLine(model) {
  lineKey = routeKey(model.route);
  if (line) map.removeLayer(line);
  line = routeLine(model.route.geometry, ROUTE_COLOR, 5).addTo(map);
}

function stopTitle(item) {
  return item.stop.sequence + ". " + (item.stop.customer_name || item.stop.reference) + " · " + item.label;
}

function drawStops(model) {
  if (stops) map.removeLayer(stops);
  stops = L.featureGroup();
  model.stops.forEach(function (item) {
    var classes = "status-" + item.status + (item.next ? " next" : "") + (item.open ? "" : " done");
    var marker = L.marker([item.stop.lat, item.stop.lon], {
      icon: stopIcon(item.stop, null, classes, "driver-stop-marker"),
      title: stopTitle(item),
      riseOnHover: true,
      zIndexOffset: item.next ? 1000 : item.open ? 500 : 0,
    });
    marker.stopId = item.stop.id;
    if (item.open) {
      // Opens the stop (the card with its actions above the map), as a tap on its row does.
      marker.on("click", function () { window.DriverApp.selectStop(item.stop.id); });
    } else {
      marker.bindTooltip(el("span", null, stopTitle(item)), { direction: "top", offset: [0, -14] });
    }
    marker.addTo(stops);
  });
  // Where a multi-trip route goes back to reload between two trips (its depot or a micro-hub).
  var hubs = {};
  ((model.route && model.route.reloads) || []).forEach(function (reload) {
    if (reload.lat == null || hubs[reload.depot]) return;
    hubs[reload.depot] = true;
    var title = interpolate(gettext("Back to %(hub)s to reload"), { hub: reload.depot_name || reload.depot_code || "" });
    L.marker([reload.lat, reload.lon], {
      icon: L.divIcon({ className: "driver-hub-marker", html: el("span", null, "↺"), iconSize: null }),
      title: title,
      zIndexOffset: 200,
    }).bindTooltip(el("span", null, title), { direction: "top", offset: [0, -14] }).addTo(stops);
  });
  stops.addTo(map);
}

function legend(labels) {
  var box = document.getElementById("route-map-legend");
  if (box.childNodes.length) return;
  LEGEND.concat(["me"]).forEach(function (status) {
    var item = el("span", "route-map-legend-item");
    item.appendChild(el("span", "route-map-legend-dot status-" + status));
    item.appendChild(document.createTextNode(status === "me" ? gettext("You") : labels[status]));
    box.appendChild(item);
  });
}

// The phone's own position (driver.js keeps the newest in localStorage): a dot, and how far off it may be.
function position(entry) {
  if (!framed || !entry) return;
  var at = [entry.lat, entry.lon];
  if (!me) {
    me = L.marker(at, {
      icon: L.divIcon({ className: "driver-me-marker", html: el("span"), iconSize: null }),
      title: gettext("You"), keyboard: false, interactive: false, zIndexOffset: 2000,
    }).addTo(map);
    meAccuracy = L.circle(at, { radius: 1, color: "#111827", weight: 1, opacity: 0.5, fillOpacity: 0.1, interactive: false }).addTo(map);
  }
  me.setLatLng(at);
  meAccuracy.setLatLng(at).setRadius(entry.accuracy_m && entry.accuracy_m < 500 ? entry.accuracy_m : 1);
  document.getElementById("route-map-me").hidden = false;
}

function draw(model) {
  lastModel = model;
  if (!map) create();
  // The panel was hidden until now, or the phone turned: Leaflet measures the container again.
  map.invalidateSize({ pan: false });
  // A new route (or version) is framed whole; the view is set before anything is drawn on it.
  if (routeKey(model.route) !== lineKey) {
    fitRoute();
    drawLine(model);
  }
  drawStops(model);
  position(model.position);
  legend(model.labels);
  addStreets(model.online);
  note(model.online);
}

if (window.L && window.DriverApp) {
  window.DriverApp.attachMap({ draw: draw, position: position, map: function () { return map; } });
}
