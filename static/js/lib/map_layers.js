/* The Leaflet layers of the dispatch maps, drawn from JSON that dispatch/maps/drawing.py puts in the page.
 *
 * One module for every map: the map documents (folium's, in an iframe srcdoc: orders, plans,
 * closures, analytics; static/js/maps.js hands these functions to their set-up code as the global
 * DispatchMap) and the live map (static/js/live.js), which draws on its own page.
 *
 * Every text goes in through textContent, never innerHTML: names and addresses come from
 * customers' imports. Each function returns the Leaflet layer so a page can update it later
 * (the live map moves markers and recolours orders as messages arrive). Leaflet (window.L) and its
 * plugins are classic scripts loaded before: L is read when a layer is drawn, not when this loads.
 */

import { el } from "./dom.js";
import { gettext, interpolate } from "./i18n.js";

// Red means a road closure (dispatch/maps/drawing.py CLOSURE_COLOR): the live map draws them in it too.
export var CLOSURE_COLOR = "#dc2626";

// The frame shares the page's origin (srcdoc inherits it); "null" only if it is ever sandboxed.
var pageOrigin = window.origin && window.origin !== "null" ? window.origin : "*";

// The last layers drawn, by kind, for scripts of the page around the map's frame.
export var layers = {};

export function popup(title, rows) {
  var box = el("div", "map-popup");
  box.appendChild(el("strong", "map-popup-title", title));
  rows.forEach(function (row) {
    if (row[1] === undefined || row[1] === null || row[1] === "") return;
    var line = el("div", "map-popup-row");
    line.appendChild(el("span", "map-popup-label", row[0]));
    var value = el("span", "map-popup-value", row[1]);
    if (row[2]) value.style.color = row[2];
    line.appendChild(value);
    box.appendChild(line);
  });
  return box;
}

// gettext("Open order") under an order's facts: its page. In a map's frame the link opens in the
// window around it (_top); the live map is that window and styles it as .order-link.
export function orderLink(box, id, options) {
  if (!id) return box;
  options = options || { className: "map-popup-link", target: "_top" };
  var link = el("a", options.className, gettext("Open order"));
  link.href = "/orders/" + encodeURIComponent(id) + "/";
  if (options.target) link.target = options.target;
  box.appendChild(link);
  return box;
}

// A closure's title in its popup (map documents) and its tooltip (live map).
export function closureTitle(reason) {
  return interpolate(gettext("Closed: %(reason)s"), { reason: reason });
}

// Frames one closure (or any layer with bounds) on its map, e.g. when its row in a list is clicked.
export function frameLayer(map, layer) {
  map.fitBounds(layer.getBounds(), { maxZoom: 16, padding: [40, 40] });
}

function legendRow(item) {
  var row = el("div", "map-legend-row");
  var dot = el("span", "map-legend-dot");
  dot.style.background = item.color;
  row.appendChild(dot);
  row.appendChild(el("span", null, item.label));
  return row;
}

// --- Orders, depots and zones (every map document) -------------------------------------------

export function zones(map, data) {
  var group = L.featureGroup();
  data.forEach(function (zone) {
    L.geoJSON(zone.polygon, {
      style: { color: zone.color, weight: 1, opacity: 0.6, fillColor: zone.color, fillOpacity: 0.07 },
    })
      .bindTooltip(el("span", null, zone.name), { sticky: true, direction: "top" })
      .addTo(group);
  });
  group.addTo(map);
  group.bringToBack();
  layers.zones = group;
  return group;
}

// No-fly zones (drones may neither cross nor deliver in them): red hatched-looking areas under the routes.
export function noFlyZones(map, data) {
  var group = L.featureGroup();
  data.forEach(function (zone) {
    L.geoJSON(zone.polygon, {
      style: { color: "#dc2626", weight: 2, opacity: 0.8, dashArray: "4 4", fillColor: "#dc2626", fillOpacity: 0.12 },
    })
      .bindPopup(popup(zone.name, [[gettext("No-fly zone"), zone.reason || gettext("no drone may fly over it")]]))
      .addTo(group);
  });
  group.addTo(map);
  group.bringToBack();
  layers.noFlyZones = group;
  return group;
}

export function depots(map, data) {
  var group = L.featureGroup();
  data.forEach(function (depot) {
    // A micro-hub (cargo bikes reload there between trips) has its own round amber marker.
    var icon = L.divIcon({ className: depot.is_micro_hub ? "depot-marker hub-marker" : "depot-marker", html: el("span", null, depot.code), iconSize: null });
    L.marker([depot.lat, depot.lon], { icon: icon, title: depot.name, zIndexOffset: 1000 })
      .bindPopup(popup(depot.name, [[depot.is_micro_hub ? gettext("Micro-hub") : gettext("Depot"), depot.code], [gettext("Address"), depot.address], [gettext("Open"), depot.hours]]))
      .addTo(group);
  });
  layers.depots = group;
  return group.addTo(map);
}

// Where a driver was last seen (the order's page: the driver of its route, while it is driven), named
// with how old the position is: a position of an hour ago is not where the van is now.
export function driverPosition(map, data) {
  var icon = L.divIcon({ className: "driver-position-marker", html: el("span"), iconSize: null });
  var marker = L.marker([data.lat, data.lon], { icon: icon, title: data.label, keyboard: false, zIndexOffset: 1500 })
    .bindTooltip(el("span", null, data.label), { permanent: true, direction: "auto", offset: [10, 0], className: "driver-position-label" })
    .addTo(map);
  marker.driver = data;
  layers.driverPosition = marker;
  return marker;
}

export function orderStyle(order) {
  return { radius: 6, color: "#ffffff", weight: 1.5, fillColor: order.color, fillOpacity: 0.95 };
}

export function orders(map, data) {
  var group = L.featureGroup();
  group.byId = {};
  data.forEach(function (order) {
    var marker = L.circleMarker([order.lat, order.lon], orderStyle(order)).bindPopup(
      orderLink(popup(order.reference, [
        [gettext("Customer"), order.customer],
        [gettext("Address"), order.address],
        [gettext("Window"), order.window],
        [gettext("Status"), order.status_label, order.color],
      ]), order.id)
    );
    marker.order = order;
    group.byId[order.id] = marker;
    marker.addTo(group);
  });
  layers.orders = group;
  return group.addTo(map);
}

export function legend(map, data) {
  if (!data.length) return null;
  var control = L.control({ position: "topright" });
  control.onAdd = function () {
    var box = el("div", "map-legend");
    data.forEach(function (item) {
      box.appendChild(legendRow(item));
    });
    var depotRow = el("div", "map-legend-row");
    depotRow.appendChild(el("span", "map-legend-depot", "D"));
    depotRow.appendChild(el("span", null, gettext("Depot")));
    box.appendChild(depotRow);
    return box;
  };
  return control.addTo(map);
}

// The marker of an order: its circle, else its stop on a route (the order's page draws its route).
function orderMarker(id) {
  var marker = (layers.orders && layers.orders.byId[id]) || null;
  if (!marker && layers.routes) {
    layers.routes.eachLayer(function (route) {
      route.eachLayer(function (part) {
        if (part.stop && part.stop.order === id) marker = part;
      });
    });
  }
  return marker;
}

// Opens an order's popup and centres it, e.g. when its row in the page's table is clicked.
export function showOrder(id) {
  var marker = orderMarker(id);
  if (!marker) return false;
  var map = marker._map;
  map.setView(marker.getLatLng(), Math.max(map.getZoom(), 14));
  marker.openPopup();
  return true;
}

// The streets under everything (static/js/basemap.js, loaded with it when tiles are built).
export function baseMap(map, options) {
  return window.DispatchBaseMap ? window.DispatchBaseMap.add(map, options) : null;
}

// --- A plan's routes (plan maps, and the running routes on the closures map) ----------------
// The plan editor (static/js/plans.js) asks for "Move to route…" in the popups with planEditing:
// the frame posts {type: "dispatch:plan-move", order, vehicle} to the page, which calls the edit API.

var MOVE = "dispatch:plan-move";
var editing = null;
var planMap = null;

// Registered before the routes are drawn (dispatch/maps/drawing.py enable_plan_editing).
export function planEditing(map, options) {
  editing = options;
  return null;
}

// "Move to route…" in a popup: the page around the frame calls the edit API.
function moveForm(orderId, currentVehicle) {
  var form = el("form", "map-move");
  var label = el("label", null, currentVehicle === null ? gettext("Add to route") : gettext("Move to route"));
  var select = el("select");
  select.name = "vehicle";
  editing.vehicles.forEach(function (vehicle) {
    if (vehicle.id === currentVehicle) return;
    var option = el("option", null, vehicle.name);
    option.value = String(vehicle.id);
    select.appendChild(option);
  });
  if (currentVehicle !== null) {
    var out = el("option", null, gettext("Not planned (take it out)"));
    out.value = "";
    select.appendChild(out);
  }
  label.appendChild(select);
  form.appendChild(label);
  var button = el("button", "map-move-button", currentVehicle === null ? gettext("Add") : gettext("Move"));
  button.type = "submit";
  form.appendChild(button);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    button.textContent = gettext("Moving…");
    window.parent.postMessage(
      { type: MOVE, order: orderId, vehicle: select.value ? Number(select.value) : null },
      pageOrigin
    );
  });
  return form;
}

function withMoveForm(box, orderId, currentVehicle) {
  if (editing && orderId) box.appendChild(moveForm(orderId, currentVehicle));
  return box;
}

// A numbered stop; `className` adds to its label ("late", "focus", the driver app's status).
export function stopIcon(stop, color, className, markerClass) {
  var label = el("span", className || null, String(stop.sequence));
  if (color) label.style.background = color;
  return L.divIcon({ className: markerClass || "stop-marker", html: label, iconSize: null });
}

// A route's road path (GeoJSON LineString) in its colour: a white casing under the coloured line
// keeps crossing routes apart. An empty group when the route has no geometry (not drawn yet).
// A drone's route (`flight`) is straight flights, drawn dashed so nobody reads it as a road.
export function routeLine(geometry, color, weight, flight) {
  var line = L.featureGroup();
  if (!geometry || !geometry.coordinates || !geometry.coordinates.length) return line;
  weight = weight || 4;
  var dash = flight ? "10 8" : null;
  L.geoJSON(geometry, { style: { color: "#ffffff", weight: weight + 3, opacity: 0.9, dashArray: dash }, interactive: false }).addTo(line);
  L.geoJSON(geometry, { style: { color: color, weight: weight, opacity: 0.9, dashArray: dash } }).addTo(line);
  return line;
}

export function routes(map, data) {
  var group = L.featureGroup();
  group.byId = {};
  data.forEach(function (route) {
    var layer = L.featureGroup();
    routeLine(route.geometry, route.color, null, route.flight)
      .bindTooltip(el("span", null, route.vehicle + (route.driver ? " · " + route.driver : "")), { sticky: true })
      .addTo(layer);
    route.stops.forEach(function (stop) {
      var rows = [
        [gettext("Vehicle"), route.vehicle],
        [gettext("Customer"), stop.customer],
        [gettext("Address"), stop.address],
        [gettext("Arrives"), stop.eta + (stop.etd && stop.etd !== stop.eta ? "–" + stop.etd : "")],
        [gettext("Window"), stop.window],
      ];
      if (stop.late_min) rows.push([gettext("Late"), stop.late_min + " min", "#dc2626"]);
      // An order's page draws the route serving it (route.focus, its order): that stop stands out, the others fade.
      var focused = route.focus === stop.order;
      var classes = [stop.late_min ? "late" : "", focused ? "focus" : ""].join(" ").trim();
      var marker = L.marker([stop.lat, stop.lon], {
        icon: stopIcon(stop, route.color, classes), title: stop.reference, riseOnHover: true,
        opacity: route.focus && !focused ? 0.45 : 1, zIndexOffset: focused ? 900 : 0,
      })
        .bindPopup(withMoveForm(orderLink(popup(stop.sequence + ". " + stop.reference, rows), stop.order), stop.order, route.vehicle_id))
        .addTo(layer);
      marker.stop = stop;
    });
    layer.route = route;
    group.byId[route.id] = layer;
    layer.addTo(group);
  });
  layers.routes = group;
  planMap = map;
  return group.addTo(map);
}

export function unassigned(map, data) {
  var group = L.featureGroup();
  data.forEach(function (order) {
    var icon = L.divIcon({ className: "unassigned-marker", html: el("span", null, "!"), iconSize: null });
    L.marker([order.lat, order.lon], { icon: icon, title: order.reference, zIndexOffset: 500 })
      .bindPopup(
        withMoveForm(
          orderLink(popup(order.reference + " · " + gettext("not planned"), [
            [gettext("Reason"), order.reason, order.color],
            [gettext("Customer"), order.customer],
            [gettext("Address"), order.address],
            [gettext("Window"), order.window],
          ]), order.order),
          order.order,
          null
        )
      )
      .addTo(group);
  });
  layers.unassigned = group;
  return group.addTo(map);
}

// The page edited the plan: draw its routes and unassigned orders again (same data as maps.py).
export function redrawPlan(routeData, unassignedData, legendData) {
  var map = planMap;
  if (!map) return false;
  map.closePopup();
  if (layers.routes) map.removeLayer(layers.routes);
  if (layers.unassigned) map.removeLayer(layers.unassigned);
  routes(map, routeData);
  unassigned(map, unassignedData);
  var box = document.querySelector(".map-legend");
  if (box && legendData) {
    // The same rows as legend(): a route that appeared (or went) is named (or not).
    box.querySelectorAll(".map-legend-row").forEach(function (row) {
      if (!row.querySelector(".map-legend-depot")) row.remove();
    });
    var depotRow = box.firstChild;
    legendData.forEach(function (item) {
      box.insertBefore(legendRow(item), depotRow);
    });
  }
  return true;
}

// Frames one route (its row in the page's table was clicked) and brings it to the front.
export function showRoute(id) {
  var layer = layers.routes && layers.routes.byId[id];
  if (!layer) return false;
  layer.eachLayer(function (part) {
    if (part.bringToFront) part.bringToFront();
  });
  var bounds = layer.getBounds();
  if (bounds.isValid()) layer._map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
  return true;
}

// --- Road closures (the closures map, and plan maps of a day with closures) -----------------

function closureStyle(closure) {
  return {
    color: closure.color, weight: 5, opacity: 0.9, fillColor: closure.color, fillOpacity: 0.18,
    dashArray: closure.upcoming ? "8 6" : null, lineCap: "round",
  };
}

export function closures(map, data) {
  var group = L.featureGroup();
  group.byId = {};
  data.forEach(function (closure) {
    var layer = L.geoJSON(closure.geometry, { style: closureStyle(closure) }).bindPopup(
      popup(closureTitle(closure.reason), [
        [gettext("From"), closure.starts],
        [gettext("Until"), closure.ends],
        [gettext("By"), closure.by],
        [gettext("Status"), closure.upcoming ? gettext("not started yet") : gettext("active"), closure.color],
      ])
    );
    layer.closure = closure;
    group.byId[closure.id] = layer;
    layer.addTo(group);
  });
  layers.closures = group;
  return group.addTo(map);
}

// Frames a closure and opens its popup, e.g. when its row in the page's list is clicked.
export function showClosure(id) {
  var layer = layers.closures && layers.closures.byId[id];
  if (!layer) return false;
  frameLayer(layer._map, layer);
  layer.openPopup();
  return true;
}

// Leaflet.draw's line and polygon tools (vendor/leaflet-draw, linked by dispatch/maps/drawing.py). A drawn
// shape is sent to the page with postMessage({type: "dispatch:closure-drawn", geometry}), because
// Leaflet and the drawing live in the frame's window while the form lives in the page's
// (static/js/closures.js); the page clears the drawing with {type: "dispatch:closure-clear"}.
export var CLOSURE_DRAWN = "dispatch:closure-drawn";
export var CLOSURE_CLEAR = "dispatch:closure-clear";

export function closureDrawing(map, options) {
  var shape = { color: options.color, weight: 5, opacity: 0.9, fillOpacity: 0.18 };
  var drawn = L.featureGroup().addTo(map);
  L.drawLocal.draw.toolbar.buttons.polyline = gettext("Draw a closed road (a line along it)");
  L.drawLocal.draw.toolbar.buttons.polygon = gettext("Draw a closed area");
  L.drawLocal.draw.handlers.polyline.tooltip.end = gettext("Click the last point again to finish the road.");
  map.addControl(
    new L.Control.Draw({
      position: "topleft",
      draw: {
        polyline: { shapeOptions: shape },
        polygon: { shapeOptions: shape, allowIntersection: false, showArea: false },
        rectangle: false, circle: false, marker: false, circlemarker: false,
      },
      edit: { featureGroup: drawn, remove: true },
    })
  );

  function report() {
    var geometry = null;
    drawn.eachLayer(function (layer) {
      geometry = layer.toGeoJSON().geometry;
    });
    window.parent.postMessage({ type: CLOSURE_DRAWN, geometry: geometry }, pageOrigin);
  }

  // One closure at a time: a new drawing replaces the previous one.
  map.on(L.Draw.Event.CREATED, function (event) {
    drawn.clearLayers();
    drawn.addLayer(event.layer);
    report();
  });
  map.on(L.Draw.Event.EDITED, report);
  map.on(L.Draw.Event.DELETED, report);
  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || (event.data && event.data.type) !== CLOSURE_CLEAR) return;
    drawn.clearLayers();
  });
  layers.drawn = drawn;
  return drawn;
}

// What the set-up code of a map document calls (dispatch/maps/drawing.py DataLayer: DispatchMap.<kind>);
// static/js/maps.js makes it the document's global DispatchMap, and a page's script reaches it
// through the frame (frame.contentWindow.DispatchMap.showRoute …). Other modules of a map document
// add their own layers to it (static/js/analytics.js: lateness).
export var DispatchMap = {
  baseMap: baseMap, zones: zones, depots: depots, orders: orders, legend: legend, popup: popup, orderStyle: orderStyle,
  layers: layers, showOrder: showOrder, orderLink: orderLink, driverPosition: driverPosition,
  planEditing: planEditing, routes: routes, unassigned: unassigned, redrawPlan: redrawPlan, showRoute: showRoute,
  closures: closures, showClosure: showClosure, closureDrawing: closureDrawing, noFlyZones: noFlyZones,
};
