/* The live map (templates/live/live_map.html): vehicles moving on today's dispatched routes, alerts.
 *
 * State comes embedded in the page (#live-config) and again from `dataUrl` (/live/?format=json)
 * when a plan changes version or after a reconnect. Live messages come from /ws/dispatch/:
 *   snapshot        {seq: {"depot.<id>": n}, drivers, plans, alerts}: the baseline of every group's seq
 *   driver.position {driver, vehicle, lat, lon, recorded_at, heading}
 *   driver.positions {depot, first_seq, seq, positions: [driver.position states]} (?positions=batched)
 *   stop.status     {order, status}
 *   plan.updated    {plan, version, changes}
 *   alert           {id, kind, message, order, driver, depot, resolved}
 *   route.etas      {route, depot, driver, stops: [{order, live_eta, ...}]}
 *   closure         {closure, reason, geometry, starts_at, ends_at, state: active|announced|ended, depot}
 * Closures (active and announced, with their reason) are drawn in red, dashed until they start; the
 * page turns an announced closure active at its start and drops one whose end has passed. A route
 * the newest re-plan changed (route.changed: stops added, removed or reordered, a detour, ETAs
 * moved) is drawn with a halo and marked "re-planned" in the list of vehicles.
 * Each message has a seq rising per depot group. A message whose seq is not above the last one
 * seen for its group is old news and ignored; a jump (seq > last + 1) means messages were missed:
 * the message is applied (it carries the full state of what it is about) and a snapshot is asked for.
 * The socket reconnects with exponential backoff (1 s, 2 s, 4 s … 30 s, with jitter) and asks for a
 * snapshot after reconnecting.
 *
 * Every text from the server goes into the page through textContent, never innerHTML.
 */

import { el } from "./lib/dom.js";
import { gettext, interpolate } from "./lib/i18n.js";
import { CLOSURE_COLOR, closureTitle, frameLayer, orderLink } from "./lib/map_layers.js";

var DONE = { delivered: true, failed: true, cancelled: true };
var DONE_STYLE = { color: "#6b7280", weight: 4, opacity: 0.7, dashArray: "6 8" };
var CHANGED_STYLE = { color: "#f59e0b", weight: 13, opacity: 0.45, interactive: false };
var MAX_BACKOFF_MS = 30000;
var ARROW_SVG =
  '<svg viewBox="0 0 24 24" width="26" height="26" aria-hidden="true">' +
  '<circle cx="12" cy="12" r="11" fill="currentColor" stroke="#fff" stroke-width="2"/>' +
  '<path d="M12 4 L18 17 L12 14 L6 17 Z" fill="#fff"/></svg>';

var config, map, layers;
var routes = {}; // route id -> {data, done, remaining, stops: {order id: circle}}
var stopIndex = {}; // order id -> {route, stop}
var drivers = {}; // driver id -> {data, marker}
var alerts = {}; // alert id -> data
var closures = {}; // closure id -> {data, layer}
var lastSeq = {};
var socket = null;
var attempts = 0;
var everConnected = false;
var snapshotAskedAt = 0;
var stopped = false;

document.addEventListener("DOMContentLoaded", start);

function start() {
  config = JSON.parse(document.getElementById("live-config").textContent);
  // Quarter zoom steps: the routes fill the map on open instead of a whole level too far out.
  map = L.map("live-map", { zoomControl: true, zoomSnap: 0.25, zoomDelta: 0.5, maxZoom: 19 });
  map.attributionControl.setPrefix('<a href="https://leafletjs.com" target="_blank" rel="noopener">Leaflet</a>');
  map.attributionControl.addAttribution(config.osmCredit);
  if (config.tileUrl) {
    L.tileLayer(config.tileUrl, { attribution: config.tileAttribution || "", maxZoom: 19 }).addTo(map);
  } else if (config.baseMap && window.DispatchBaseMap) {
    window.DispatchBaseMap.add(map, config.baseMap);
  } else {
    var renderer = L.canvas({ padding: 0.2 });
    config.backdrop.forEach(function (line) {
      L.polyline(line, { renderer: renderer, color: "#cbd5e1", weight: 1.5, interactive: false }).addTo(map);
    });
  }
  layers = {
    depots: L.layerGroup().addTo(map),
    changed: L.layerGroup().addTo(map),
    routes: L.layerGroup().addTo(map),
    closures: L.layerGroup().addTo(map),
    noFly: L.layerGroup().addTo(map),
    stops: stopClusters().addTo(map),
    // Failed stops need the dispatcher: never hidden inside a cluster.
    attention: L.layerGroup().addTo(map),
    vehicles: L.layerGroup().addTo(map),
  };
  map.on("zoomend moveend", declutterLabels);
  legend();
  // A view first: Leaflet adds layers to a map only once it has one, and the markers' elements are needed.
  map.setView([20, 0], 2);
  applyState(config.state);
  fitAll();
  connect();
  // An announced closure starts, an active one ends: redraw without waiting for a message.
  setInterval(refreshClosureStates, 15000);
  window.LiveMap = {
    map: map, drivers: drivers, routes: routes, alerts: alerts, closures: closures, lastSeq: lastSeq,
    socket: function () { return socket; },
    stop: function () { stopped = true; if (socket) socket.close(); },
  };
}

// --- state ------------------------------------------------------------------------------------

function applyState(state) {
  layers.depots.clearLayers();
  state.depots.forEach(function (depot) {
    // A micro-hub (where cargo bikes reload between trips) has its own marker.
    L.marker([depot.lat, depot.lon], {
      icon: L.divIcon({ className: depot.is_micro_hub ? "depot-icon hub-icon" : "depot-icon", html: "", iconSize: [18, 18], iconAnchor: [9, 9] }),
      title: depot.code + " – " + depot.name + (depot.is_micro_hub ? " (" + gettext("micro-hub") + ")" : ""),
    }).addTo(layers.depots);
  });
  drawNoFlyZones(state.no_fly_zones || []);
  drawRoutes(state.routes);
  drawClosures(state.closures || []);
  state.drivers.forEach(function (d) { upsertDriver(d); });
  Object.keys(alerts).forEach(function (id) { delete alerts[id]; });
  state.alerts.forEach(function (a) { alerts[a.id] = a; });
  config.state = state;
  renderAlerts();
  renderVehicles();
}

function reloadData() {
  return fetch(config.dataUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then(applyState)
    .catch(function (error) { console.warn("live map: could not reload", error); });
}

function fitAll() {
  var points = [];
  Object.keys(routes).forEach(function (id) { points = points.concat(routes[id].data.coordinates); });
  Object.keys(drivers).forEach(function (id) {
    var d = drivers[id].data;
    if (d.lat != null) points.push([d.lat, d.lon]);
  });
  if (!points.length) config.state.depots.forEach(function (d) { points.push([d.lat, d.lon]); });
  if (points.length) map.fitBounds(L.latLngBounds(points), { padding: [24, 24], maxZoom: 15 });
  else map.setView([20, 0], 2);
}

// --- routes and stops ------------------------------------------------------------------------

function drawRoutes(list) {
  layers.changed.clearLayers();
  layers.routes.clearLayers();
  layers.stops.clearLayers();
  layers.attention.clearLayers();
  Object.keys(routes).forEach(function (id) { delete routes[id]; });
  Object.keys(stopIndex).forEach(function (id) { delete stopIndex[id]; });
  list.forEach(function (route) {
    var entry = {
      data: route,
      done: L.polyline([], DONE_STYLE).addTo(layers.routes),
      // A drone's route is straight flights: dashed, so nobody reads it as a road.
      remaining: L.polyline([], { color: route.color, weight: 5, opacity: 0.85, dashArray: route.flight ? "10 8" : null }).addTo(layers.routes),
      stops: {},
    };
    routes[route.id] = entry;
    if (route.changed) {
      entry.halo = L.polyline(route.coordinates, CHANGED_STYLE).addTo(layers.changed);
      var haloEl = entry.halo.getElement && entry.halo.getElement();
      if (haloEl) haloEl.setAttribute("data-changed-route", route.id);
    }
    route.stops.forEach(function (stop) {
      stopIndex[stop.order] = { route: entry, stop: stop };
      var circle = L.circleMarker([stop.lat, stop.lon], { radius: 7, weight: 2, color: "#fff", fillOpacity: 1 });
      circle.bindTooltip(function () { return stopTooltip(entry, stop); });
      // A click keeps the same facts open, with the way to the order's page.
      circle.bindPopup(function () { return orderLink(stopTooltip(entry, stop), stop.order, { className: "order-link" }); });
      circle.stop = stop;
      circle.routeColor = route.color;
      // A marker leaving a cluster gets a new SVG element: mark it again.
      circle.on("add", function () { markStop(circle); });
      entry.stops[stop.order] = circle;
      styleStop(circle, stop);
    });
    splitRoute(entry);
  });
}

function splitRoute(entry) {
  // Driven: from the start up to the last completed stop; still to drive: from there on.
  var coords = entry.data.coordinates;
  var vertex = 0;
  entry.data.stops.forEach(function (stop) { if (DONE[stop.status]) vertex = Math.max(vertex, stop.vertex); });
  entry.done.setLatLngs(vertex > 0 ? coords.slice(0, vertex + 1) : []);
  entry.remaining.setLatLngs(coords.slice(vertex));
  entry.done.getElement && entry.done.getElement() && entry.done.getElement().setAttribute("data-vertex", vertex);
  entry.doneVertex = vertex;
}

// A stop is its route's colour; its status is the mark around it (see STOP_MARKS and the legend).
var STOP_MARKS = {
  arrived: { label: "driver there", color: "#f59e0b", weight: 4, fillOpacity: 1 },
  delivered: { label: "delivered", color: "#16a34a", weight: 2.5, fillOpacity: 0.35 },
  failed: { label: "failed", color: "#dc2626", weight: 4, fillOpacity: 1 },
  cancelled: { label: "cancelled", color: "#a8a29e", weight: 2, fillOpacity: 0.2 },
};
var STOP_TO_DO = { label: "to do", color: "#ffffff", weight: 2, fillOpacity: 1 };

function styleStop(circle, stop) {
  var mark = STOP_MARKS[stop.status] || STOP_TO_DO;
  circle.setStyle({ fillColor: circle.routeColor, color: mark.color, weight: mark.weight, fillOpacity: mark.fillOpacity });
  var target = stop.status === "failed" ? layers.attention : layers.stops;
  if (circle.stopLayer !== target) {
    if (circle.stopLayer) circle.stopLayer.removeLayer(circle);
    target.addLayer(circle);
    circle.stopLayer = target;
  }
  markStop(circle);
  // In an array: markercluster takes a lone L.Marker as one, but a circle marker is no L.Marker,
  // and it then walked the circle's own properties as if they were markers ("reading '__parent'" of null).
  if (target === layers.stops && layers.stops.refreshClusters && layers.stops.hasLayer(circle)) {
    layers.stops.refreshClusters([circle]);
  }
}

function markStop(circle) {
  var node = circle.getElement && circle.getElement();
  if (node) {
    node.setAttribute("data-order", circle.stop.order);
    node.setAttribute("data-status", circle.stop.status);
    node.setAttribute("data-route-color", circle.routeColor);
  }
}

// Stops gather into one round badge per neighbourhood while zoomed out (vendor/leaflet-markercluster):
// its ring shows the routes' shares in their colours, its number how many stops. From zoom 15 on
// every stop stands alone.
function stopClusters() {
  if (!L.markerClusterGroup) return L.layerGroup();
  return L.markerClusterGroup({
    maxClusterRadius: 44,
    disableClusteringAtZoom: 15,
    showCoverageOnHover: false,
    spiderfyOnMaxZoom: false,
    iconCreateFunction: function (cluster) {
      var shares = {};
      var markers = cluster.getAllChildMarkers();
      markers.forEach(function (m) { shares[m.routeColor] = (shares[m.routeColor] || 0) + 1; });
      var at = 0, parts = [];
      Object.keys(shares).forEach(function (color) {
        var next = at + (shares[color] / markers.length) * 360;
        parts.push(color + " " + at.toFixed(1) + "deg " + next.toFixed(1) + "deg");
        at = next;
      });
      var badge = document.createElement("span");
      badge.className = "stop-cluster-ring";
      badge.style.background = "conic-gradient(" + parts.join(", ") + ")";
      var count = document.createElement("span");
      count.className = "stop-cluster-count";
      count.textContent = markers.length;
      badge.appendChild(count);
      var size = markers.length < 10 ? 30 : markers.length < 50 ? 36 : 42;
      return L.divIcon({ className: "stop-cluster", html: badge, iconSize: [size, size] });
    },
  });
}

// Drivers' names never cover each other: after each move, a label that would overlap one already
// shown is hidden (its van stays, with the name on hover), nearest the map's centre first.
var declutterPending = false;

function declutterLabels() {
  if (declutterPending) return;
  declutterPending = true;
  window.requestAnimationFrame(function () {
    declutterPending = false;
    var centre = map.getSize().divideBy(2);
    var entries = Object.keys(drivers)
      .map(function (id) { return drivers[id]; })
      .filter(function (entry) { return entry.marker && entry.label; });
    entries.forEach(function (entry) { entry.point = map.latLngToContainerPoint(entry.marker.getLatLng()); });
    entries.sort(function (a, b) { return a.point.distanceTo(centre) - b.point.distanceTo(centre); });
    var placed = [];
    entries.forEach(function (entry) {
      // The label's box beside the arrow (.vehicle-label: 30 px to the right, 22 px high).
      if (!entry.labelWidth) entry.labelWidth = entry.label.offsetWidth;
      var width = entry.labelWidth || 8 * entry.label.textContent.length;
      var box = L.bounds([entry.point.x - 13, entry.point.y - 13], [entry.point.x + 34 + width, entry.point.y + 13]);
      var free = placed.every(function (other) { return !other.intersects(box); });
      entry.label.hidden = !free;
      entry.marker.getElement().setAttribute("data-label", free ? "shown" : "hidden");
      if (free) placed.push(box);
    });
  });
}

// Times are the company's (the page says which zone once, #time-zone-note), not the browser's.
var TIME_ZONE = (document.getElementById("time-zone-note") || { dataset: {} }).dataset.timeZone || undefined;
var CLOCK = new Intl.DateTimeFormat("en-GB", { timeZone: TIME_ZONE, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
var DAY = new Intl.DateTimeFormat("en-GB", { timeZone: TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit" });
var SHORT_DAY = new Intl.DateTimeFormat("en-GB", { timeZone: TIME_ZONE, weekday: "short", day: "numeric", month: "short" });

function hhmm(iso) {
  if (!iso) return "";
  return CLOCK.format(new Date(iso));
}

function stopTooltip(entry, stop) {
  var box = document.createElement("div");
  var title = document.createElement("b");
  title.textContent = stop.sequence + ". " + stop.reference + (stop.customer_name ? " – " + stop.customer_name : "");
  box.appendChild(title);
  var lines = [
    [gettext("Status"), stop.status],
    [gettext("Vehicle"), entry.data.vehicle_name + (entry.data.driver_name ? " (" + entry.data.driver_name + ")" : "")],
    [gettext("Planned"), hhmm(stop.eta)],
    [gettext("Live ETA"), hhmm(stop.live_eta) || "–"],
    [gettext("Window"), stop.window_start ? hhmm(stop.window_start) + "–" + hhmm(stop.window_end) : gettext("any time")],
  ];
  lines.forEach(function (pair) {
    var row = document.createElement("div");
    row.textContent = pair[0] + ": " + pair[1];
    box.appendChild(row);
  });
  return box;
}

// --- vehicles ----------------------------------------------------------------------------------

function driverLabel(data) {
  var route = routeOfDriver(data.driver);
  return data.name || (route && route.data.driver_name) || interpolate(gettext("Driver %(id)s"), { id: data.driver });
}

function routeOfDriver(driverId) {
  for (var id in routes) if (routes[id].data.driver === driverId) return routes[id];
  return null;
}

// Messages from two web processes may cross: never move a marker back to an older position.
function upsertNewerPosition(data) {
  var known = drivers[data.driver];
  if (known && known.data.recorded_at && Date.parse(data.recorded_at) < Date.parse(known.data.recorded_at)) return;
  upsertDriver(data);
}

function upsertDriver(data) {
  var entry = drivers[data.driver];
  if (!entry) {
    entry = drivers[data.driver] = { data: {}, marker: null };
  }
  Object.keys(data).forEach(function (key) { if (data[key] !== undefined) entry.data[key] = data[key]; });
  if (entry.data.name === undefined && data.driver_name) entry.data.name = data.driver_name;
  if (entry.data.lat == null || entry.data.lon == null) return;
  var latlng = [entry.data.lat, entry.data.lon];
  if (!entry.marker) {
    var route = routeOfDriver(data.driver);
    entry.marker = L.marker(latlng, {
      icon: L.divIcon({ className: "vehicle-icon", html: "", iconSize: [26, 26], iconAnchor: [13, 13] }),
      keyboard: false,
      zIndexOffset: 1000,
    }).addTo(layers.vehicles);
    var node = entry.marker.getElement();
    node.setAttribute("data-driver", data.driver);
    node.style.color = route ? route.data.color : "#111827";
    var arrow = document.createElement("span");
    arrow.className = "vehicle-arrow";
    arrow.innerHTML = ARROW_SVG; // a constant of this file, no server text
    var label = document.createElement("span");
    label.className = "vehicle-label";
    node.appendChild(arrow);
    node.appendChild(label);
    entry.arrow = arrow;
    entry.label = label;
  } else {
    entry.marker.setLatLng(latlng);
  }
  var heading = entry.data.heading;
  entry.arrow.style.transform = heading == null ? "" : "rotate(" + Math.round(heading) + "deg)";
  entry.arrow.classList.toggle("no-heading", heading == null);
  if (entry.label.textContent !== driverLabel(entry.data)) entry.labelWidth = 0;
  entry.label.textContent = driverLabel(entry.data);
  var element = entry.marker.getElement();
  element.setAttribute("data-lat", entry.data.lat.toFixed(6));
  element.setAttribute("data-lon", entry.data.lon.toFixed(6));
  element.title = driverLabel(entry.data) + (entry.data.recorded_at ? " · " + hhmm(entry.data.recorded_at) : "");
  declutterLabels();
}

// A multi-trip route's trip now: one more than the reloads before its first stop not yet done.
function currentTrip(entry) {
  var reloads = entry.data.reloads || [];
  if (!reloads.length) return null;
  var next = entry.data.stops.filter(function (s) { return !DONE[s.status]; })[0];
  if (!next) return null;
  return 1 + reloads.filter(function (r) { return r.after_sequence < next.sequence; }).length;
}

function renderVehicles() {
  var list = document.getElementById("vehicle-list");
  list.textContent = "";
  var ids = Object.keys(routes);
  document.getElementById("vehicle-empty").hidden = ids.length > 0;
  var totalDone = 0, total = 0;
  ids.forEach(function (id) {
    var entry = routes[id];
    var done = entry.data.stops.filter(function (s) { return DONE[s.status]; }).length;
    var next = entry.data.stops.filter(function (s) { return !DONE[s.status]; })[0];
    totalDone += done;
    total += entry.data.stops.length;
    var item = document.createElement("li");
    item.className = "vehicle-row";
    var dot = document.createElement("span");
    dot.className = "dot";
    dot.style.background = entry.data.color;
    var name = document.createElement("button");
    name.type = "button";
    name.className = "link-like";
    name.textContent = entry.data.vehicle_name + (entry.data.driver_name ? " · " + entry.data.driver_name : "");
    name.addEventListener("click", function () {
      var driver = drivers[entry.data.driver];
      if (driver && driver.marker) map.setView(driver.marker.getLatLng(), Math.max(map.getZoom(), 15));
      else map.fitBounds(L.latLngBounds(entry.data.coordinates), { padding: [30, 30] });
    });
    var progress = document.createElement("span");
    progress.className = "muted small";
    progress.textContent =
      done + "/" + entry.data.stops.length + " done" +
      (next ? " · next " + next.reference + " " + (hhmm(next.live_eta) || hhmm(next.eta)) : "");
    var trip = currentTrip(entry);
    if (trip) progress.textContent += " · " + interpolate(gettext("trip %(trip)s of %(trips)s"), { trip: trip, trips: entry.data.reloads.length + 1 });
    item.appendChild(dot);
    item.appendChild(name);
    if (entry.data.changed) {
      item.setAttribute("data-changed", "true");
      var badge = document.createElement("span");
      badge.className = "replanned-badge";
      badge.textContent = "re-planned";
      badge.title = changeSummary(entry.data.changed);
      item.appendChild(badge);
      var why = document.createElement("span");
      why.className = "muted small replanned-why";
      why.textContent = changeSummary(entry.data.changed);
      item.appendChild(why);
    }
    item.appendChild(progress);
    list.appendChild(item);
  });
  document.getElementById("live-summary").textContent =
    ids.length ? interpolate(gettext("%(vehicles)s vehicles · %(done)s/%(total)s stops done"), { vehicles: ids.length, done: totalDone, total: total }) : gettext("nothing dispatched today");
}

function changeSummary(changed) {
  var parts = [];
  if (changed.added.length) parts.push("+" + changed.added.length + " stop" + (changed.added.length > 1 ? "s" : ""));
  if (changed.removed.length) parts.push("−" + changed.removed.length + " stop" + (changed.removed.length > 1 ? "s" : ""));
  if (changed.reordered) parts.push("new order");
  if (changed.detour) parts.push("new road");
  if (changed.eta_shift_max_min) parts.push("ETAs up to " + changed.eta_shift_max_min + " min");
  return "v" + changed.previous_version + "→v" + changed.version + " " + hhmm(changed.at) + ": " +
    (parts.join(", ") || "changed") + " · " + changed.reason;
}

// --- closures ----------------------------------------------------------------------------------

function closureStateNow(data) {
  var now = Date.now();
  if (data.lifted_at || (data.ends_at && Date.parse(data.ends_at) <= now)) return "ended";
  return Date.parse(data.starts_at) > now ? "announced" : "active";
}

function dayTime(iso) {
  if (!iso) return "";
  var d = new Date(iso);
  var sameDay = DAY.format(d) === DAY.format(new Date());
  return sameDay ? hhmm(iso) : SHORT_DAY.format(d) + " " + hhmm(iso);
}

function closureWhen(data) {
  var state = closureStateNow(data);
  var until = data.ends_at ? "until " + dayTime(data.ends_at) : "until lifted";
  return state === "announced" ? "from " + dayTime(data.starts_at) + ", " + until : "closed " + until;
}

function closureTooltip(data) {
  var box = document.createElement("div");
  var title = document.createElement("b");
  title.textContent = closureTitle(data.reason);
  box.appendChild(title);
  var when = document.createElement("div");
  when.textContent = (closureStateNow(data) === "announced" ? gettext("Announced,") + " " : gettext("Active,") + " ") + closureWhen(data);
  box.appendChild(when);
  return box;
}

function upsertClosure(data) {
  var known = closures[data.closure];
  if (known) {
    layers.closures.removeLayer(known.layer);
    delete closures[data.closure];
  }
  var state = closureStateNow(data);
  if (state === "ended") return;
  var layer = L.geoJSON(data.geometry, {
    style: {
      color: CLOSURE_COLOR, weight: 6, opacity: 0.95, fillColor: CLOSURE_COLOR, fillOpacity: 0.2,
      dashArray: state === "announced" ? "8 7" : null, lineCap: "round",
    },
  });
  layer.bindTooltip(function () { return closureTooltip(data); }, { sticky: true });
  layer.addTo(layers.closures);
  layer.eachLayer(function (part) {
    var node = part.getElement && part.getElement();
    if (node) {
      node.setAttribute("data-closure", data.closure);
      node.setAttribute("data-closure-state", state);
    }
  });
  closures[data.closure] = { data: data, layer: layer, state: state };
}

// No-fly zones (drones neither cross nor deliver in them), when a route of the map is a drone's.
function drawNoFlyZones(list) {
  layers.noFly.clearLayers();
  list.forEach(function (zone) {
    L.geoJSON(zone.polygon, {
      style: { color: "#dc2626", weight: 2, opacity: 0.8, dashArray: "4 4", fillColor: "#dc2626", fillOpacity: 0.12 },
    })
      .bindTooltip(gettext("No-fly zone") + ": " + zone.name + (zone.reason ? " (" + zone.reason + ")" : ""), { sticky: true })
      .addTo(layers.noFly);
  });
}

function drawClosures(list) {
  layers.closures.clearLayers();
  Object.keys(closures).forEach(function (id) { delete closures[id]; });
  list.forEach(upsertClosure);
  renderClosures();
}

function refreshClosureStates() {
  var changed = false;
  Object.keys(closures).forEach(function (id) {
    var entry = closures[id];
    if (closureStateNow(entry.data) !== entry.state) {
      upsertClosure(entry.data);
      changed = true;
    }
  });
  if (changed) renderClosures();
}

function renderClosures() {
  var list = document.getElementById("closure-list");
  list.textContent = "";
  var items = Object.keys(closures).map(function (id) { return closures[id]; });
  items.sort(function (a, b) { return a.data.starts_at.localeCompare(b.data.starts_at); });
  items.forEach(function (entry) {
    var item = document.createElement("li");
    item.className = "closure-row closure-" + entry.state;
    item.setAttribute("data-closure", entry.data.closure);
    var badge = document.createElement("span");
    badge.className = "closure-state";
    badge.textContent = entry.state;
    var reason = el("button", "link-like closure-reason", entry.data.reason);
    reason.type = "button";
    reason.addEventListener("click", function () { frameLayer(map, entry.layer); });
    var when = document.createElement("span");
    when.className = "muted small";
    when.textContent = closureWhen(entry.data);
    item.appendChild(badge);
    item.appendChild(reason);
    item.appendChild(when);
    list.appendChild(item);
  });
  document.getElementById("closure-count").textContent = items.length;
  document.getElementById("closure-empty").hidden = items.length > 0;
}

// --- alerts ------------------------------------------------------------------------------------
// Grouped by kind (named by the server: kind_label, so a new kind needs nothing here), newest first.
// Each group shows its newest few; the Alerts page (/alerts/) has them all, with filters. A group's
// "Resolve all" is one POST to /api/alerts/resolve/ (checked there alert by alert).

var ALERTS_PER_GROUP = 5;
var navAlertBase = null; // open alerts the nav counted beyond those this page holds

function renderAlerts() {
  var list = document.getElementById("alert-list");
  list.textContent = "";
  var items = Object.keys(alerts).map(function (id) { return alerts[id]; });
  items.sort(function (a, b) { return (b.created_at || "").localeCompare(a.created_at || ""); });
  var groups = {};
  var kinds = [];
  items.forEach(function (alert) {
    if (!groups[alert.kind]) {
      groups[alert.kind] = [];
      kinds.push(alert.kind);
    }
    groups[alert.kind].push(alert);
  });
  kinds.forEach(function (kind) { list.appendChild(alertGroup(kind, groups[kind])); });
  document.getElementById("alert-count").textContent = items.length;
  document.getElementById("alert-empty").hidden = items.length > 0;
  updateNavCount(items.length);
}

function alertGroup(kind, members) {
  var group = document.createElement("li");
  group.className = "alert-group alert-" + kind;
  group.setAttribute("data-kind", kind);
  var head = document.createElement("div");
  head.className = "alert-group-head";
  var label = document.createElement("span");
  label.className = "alert-kind";
  label.textContent = members[0].kind_label || kind.replace(/_/g, " ");
  var count = document.createElement("span");
  count.className = "badge-count";
  count.textContent = members.length;
  head.appendChild(label);
  head.appendChild(count);
  if (members.length > 1) {
    var all = document.createElement("button");
    all.type = "button";
    all.className = "button small-button alert-resolve-all";
    all.textContent = interpolate(gettext("Resolve all %(count)s"), { count: members.length });
    all.addEventListener("click", function () { resolveAlerts(members, all); });
    head.appendChild(all);
  }
  group.appendChild(head);
  var rows = document.createElement("ul");
  rows.className = "alert-rows";
  members.slice(0, ALERTS_PER_GROUP).forEach(function (alert) { rows.appendChild(alertItem(alert)); });
  group.appendChild(rows);
  if (members.length > ALERTS_PER_GROUP) {
    var more = document.createElement("a");
    more.className = "alert-more";
    more.href = "/alerts/?kind=" + encodeURIComponent(kind);
    more.textContent = interpolate(gettext("+ %(count)s more on the Alerts page"), { count: members.length - ALERTS_PER_GROUP });
    group.appendChild(more);
  }
  return group;
}

function alertItem(alert) {
  var item = document.createElement("li");
  item.className = "alert-item alert-" + alert.kind;
  item.setAttribute("data-alert", alert.id);
  var when = document.createElement("time");
  when.className = "muted small";
  when.dateTime = alert.created_at || "";
  when.textContent = dayTime(alert.created_at);
  var text = document.createElement("span");
  text.className = "alert-message";
  text.textContent = alert.message;
  var resolve = el("button", "button small-button", gettext("Resolve"));
  resolve.type = "button";
  resolve.addEventListener("click", function () { resolveAlerts([alert], resolve); });
  if (alert.order && stopIndex[alert.order]) {
    text.classList.add("clickable");
    text.addEventListener("click", function () {
      var stop = stopIndex[alert.order].stop;
      map.setView([stop.lat, stop.lon], Math.max(map.getZoom(), 16));
    });
  }
  item.appendChild(when);
  item.appendChild(text);
  if (alert.order) {
    var open = document.createElement("a");
    open.className = "alert-order";
    open.href = "/orders/" + encodeURIComponent(alert.order) + "/";
    open.textContent = gettext("Order");
    open.title = gettext("Open the order's page");
    item.appendChild(open);
  }
  item.appendChild(resolve);
  return item;
}

// The nav's count (templates/base.html) was right when the page loaded; follow it as alerts come and go.
function updateNavCount(held) {
  var nav = document.querySelector('.nav a[href="/alerts/"]');
  if (!nav) return;
  var badge = document.getElementById("nav-alert-count");
  if (navAlertBase === null) navAlertBase = Math.max(0, (badge ? parseInt(badge.textContent, 10) || 0 : 0) - held);
  var total = navAlertBase + held;
  if (!badge && total > 0) {
    badge = document.createElement("span");
    badge.className = "nav-count";
    badge.id = "nav-alert-count";
    nav.appendChild(document.createTextNode(" "));
    nav.appendChild(badge);
  }
  if (badge) {
    badge.textContent = total;
    badge.hidden = total === 0;
  }
}

function resolveAlerts(list, button) {
  var errors = document.getElementById("alert-errors");
  errors.hidden = true;
  button.disabled = true;
  fetch("/api/alerts/resolve/", {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "X-CSRFToken": document.querySelector('meta[name="csrf-token"]').content,
      "Content-Type": "application/json",
      Accept: "application/json",
    },
    body: JSON.stringify({ alerts: list.map(function (alert) { return alert.id; }) }),
  })
    .then(function (response) {
      if (!response.ok) throw new Error(interpolate(gettext("The alerts could not be resolved (HTTP %(status)s)."), { status: response.status }));
      return response.json();
    })
    .then(function (result) {
      // Resolved now, before, or not ours to see: none of them is open on this page any more.
      result.resolved.concat(result.already_resolved, result.not_found).forEach(function (id) { delete alerts[id]; });
      renderAlerts();
    })
    .catch(function (error) {
      button.disabled = false;
      errors.textContent = error.message;
      errors.hidden = false;
    });
}

// --- messages ------------------------------------------------------------------------------------

var handlers = {
  "driver.position": function (msg) { upsertNewerPosition(msg); },
  "driver.positions": function (msg) { (msg.positions || []).forEach(upsertNewerPosition); },
  "stop.status": function (msg) {
    var found = stopIndex[msg.order];
    if (!found) return;
    found.stop.status = msg.status;
    styleStop(found.route.stops[msg.order], found.stop);
    splitRoute(found.route);
    renderVehicles();
  },
  "plan.updated": function (msg) {
    var known = config.state.plans.some(function (p) { return p.plan === msg.plan; });
    if (!known) reloadData();
  },
  alert: function (msg) {
    if (msg.resolved) delete alerts[msg.id];
    else alerts[msg.id] = msg;
    renderAlerts();
  },
  closure: function (msg) {
    upsertClosure(msg);
    renderClosures();
  },
  "route.etas": function (msg) {
    (msg.stops || []).forEach(function (item) {
      var found = stopIndex[item.order];
      if (found) found.stop.live_eta = item.live_eta;
    });
    renderVehicles();
  },
};

function groupOf(msg) {
  var depot = msg.depot;
  if (depot == null && msg.driver != null && drivers[msg.driver]) depot = drivers[msg.driver].data.depot;
  if (depot == null && msg.order != null && stopIndex[msg.order]) depot = stopIndex[msg.order].route.data.depot;
  return depot == null ? null : "depot." + depot;
}

function applySnapshot(msg) {
  Object.keys(lastSeq).forEach(function (key) { delete lastSeq[key]; });
  Object.keys(msg.seq || {}).forEach(function (key) { lastSeq[key] = msg.seq[key]; });
  (msg.drivers || []).forEach(function (d) { upsertDriver(d); });
  Object.keys(alerts).forEach(function (id) { delete alerts[id]; });
  (msg.alerts || []).forEach(function (a) { alerts[a.id] = a; });
  renderAlerts();
  var known = config.state.plans.map(function (p) { return p.plan; }).sort().join(",");
  var now = (msg.plans || []).map(function (p) { return p.plan; }).sort().join(",");
  // Stop statuses are not in the snapshot: after a reconnect or a gap, read the page's state again.
  if (known !== now || msg._reload) reloadData();
}

function onMessage(event) {
  var msg;
  try { msg = JSON.parse(event.data); } catch (e) { return; }
  if (msg.type === "snapshot") {
    msg._reload = snapshotAskedAt > 0;
    snapshotAskedAt = 0;
    applySnapshot(msg);
    return;
  }
  var group = groupOf(msg);
  if (group && typeof msg.seq === "number") {
    var last = lastSeq[group];
    // A batch (driver.positions) carries the seqs first_seq..seq.
    var first = typeof msg.first_seq === "number" ? msg.first_seq : msg.seq;
    if (last !== undefined) {
      if (msg.seq <= last) return; // older than what we already have
      if (first > last + 1) askSnapshot(); // missed some: this one is still the latest state
    }
    lastSeq[group] = msg.seq;
  }
  if (handlers[msg.type]) handlers[msg.type](msg);
}

function askSnapshot() {
  var now = Date.now();
  if (snapshotAskedAt && now - snapshotAskedAt < 2000) return;
  if (socket && socket.readyState === WebSocket.OPEN) {
    snapshotAskedAt = now;
    socket.send(JSON.stringify({ type: "snapshot" }));
  }
}

// --- the socket ------------------------------------------------------------------------------------

function setConnection(state, text) {
  var node = document.getElementById("live-connection");
  node.setAttribute("data-state", state);
  node.textContent = text;
}

function connect() {
  if (stopped) return;
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + config.socketPath);
  socket.addEventListener("open", function () {
    attempts = 0;
    setConnection("live", gettext("Live"));
    if (everConnected) askSnapshot(); // the server sends one on connect too; this one marks a reload
    everConnected = true;
  });
  socket.addEventListener("message", onMessage);
  socket.addEventListener("close", function (event) {
    if (stopped) return;
    if (event.code === 4401 || event.code === 4403) {
      setConnection("refused", gettext("Not allowed: log in again as a dispatcher."));
      return;
    }
    var delay = Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, attempts)) * (0.5 + Math.random() / 2);
    attempts += 1;
    setConnection("reconnecting", interpolate(gettext("Connection lost – retrying in %(seconds)s s"), { seconds: Math.round(delay / 1000) }));
    setTimeout(connect, delay);
  });
}

// Stops take their route's colour (the vehicle list's dots); the legend explains the status marks.
function legend() {
  var box = document.getElementById("legend-statuses");
  [STOP_TO_DO, STOP_MARKS.arrived, STOP_MARKS.delivered, STOP_MARKS.failed, STOP_MARKS.cancelled].forEach(function (mark) {
    var item = document.createElement("span");
    var dot = document.createElement("i");
    dot.className = "legend-stop";
    dot.style.borderColor = mark.color === "#ffffff" ? "#94a3b8" : mark.color;
    dot.style.opacity = Math.max(mark.fillOpacity, 0.5);
    item.appendChild(dot);
    item.appendChild(document.createTextNode(" " + mark.label));
    box.appendChild(item);
  });
  var cluster = document.createElement("span");
  var ring = document.createElement("i");
  ring.className = "legend-cluster";
  ring.textContent = "n";
  cluster.appendChild(ring);
  cluster.appendChild(document.createTextNode(" " + gettext("stops nearby (zoom in)")));
  box.appendChild(cluster);
}
