/* Layers of the dispatch maps, drawn from JSON that dispatch/maps.py puts in the page.
 *
 * Every text goes in through textContent, never innerHTML: names and addresses come from
 * customers' imports. Each function returns the Leaflet layer so a page can update it later
 * (the live map moves markers and recolours orders as messages arrive).
 */
(function () {
  "use strict";

  // Texts in the active language: /jsi18n/ (base.html) defines gettext; the map's frame borrows its
  // page's. Without either, the English msgid.
  var catalog = (function () {
    try {
      if (window.gettext) return window;
      if (window.parent && window.parent !== window && window.parent.gettext) return window.parent;
    } catch (error) { /* a frame of another origin */ }
    return null;
  })();
  function gettext(text) { return catalog ? catalog.gettext(text) : text; }
  function ngettext(singular, plural, count) { return catalog ? catalog.ngettext(singular, plural, count) : count === 1 ? singular : plural; }
  function interpolate(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (match, key) { return String(values[key]); });
  }

  // The last layers drawn, by kind, for scripts of the page around the map's frame.
  var layers = {};

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function popup(title, rows) {
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

  // gettext("Open order") under an order's popup: its page, in the window around the map's frame (_top).
  function orderLink(box, id) {
    if (!id) return box;
    var link = el("a", "map-popup-link", gettext("Open order"));
    link.href = "/orders/" + encodeURIComponent(id) + "/";
    link.target = "_top";
    box.appendChild(link);
    return box;
  }

  function zones(map, data) {
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

  function depots(map, data) {
    var group = L.featureGroup();
    data.forEach(function (depot) {
      var icon = L.divIcon({ className: "depot-marker", html: el("span", null, depot.code), iconSize: null });
      L.marker([depot.lat, depot.lon], { icon: icon, title: depot.name, zIndexOffset: 1000 })
        .bindPopup(popup(depot.name, [[gettext("Depot"), depot.code], [gettext("Address"), depot.address], [gettext("Open"), depot.hours]]))
        .addTo(group);
    });
    layers.depots = group;
    return group.addTo(map);
  }

  function orderStyle(order) {
    return { radius: 6, color: "#ffffff", weight: 1.5, fillColor: order.color, fillOpacity: 0.95 };
  }

  function orders(map, data) {
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

  function legend(map, data) {
    if (!data.length) return null;
    var control = L.control({ position: "topright" });
    control.onAdd = function () {
      var box = el("div", "map-legend");
      data.forEach(function (item) {
        var row = el("div", "map-legend-row");
        var dot = el("span", "map-legend-dot");
        dot.style.background = item.color;
        row.appendChild(dot);
        row.appendChild(el("span", null, item.label));
        box.appendChild(row);
      });
      var depotRow = el("div", "map-legend-row");
      depotRow.appendChild(el("span", "map-legend-depot", "D"));
      depotRow.appendChild(el("span", null, gettext("Depot")));
      box.appendChild(depotRow);
      return box;
    };
    return control.addTo(map);
  }

  // Opens an order's popup and centres it, e.g. when its row in the page's table is clicked.
  function showOrder(id) {
    var marker = layers.orders && layers.orders.byId[id];
    if (!marker) return false;
    var map = marker._map;
    map.setView(marker.getLatLng(), Math.max(map.getZoom(), 14));
    marker.openPopup();
    return true;
  }

  // The streets under everything (static/js/basemap.js, loaded with it when tiles are built).
  function baseMap(map, options) {
    return window.DispatchBaseMap ? window.DispatchBaseMap.add(map, options) : null;
  }

  window.DispatchMap = {
    baseMap: baseMap, zones: zones, depots: depots, orders: orders, legend: legend, popup: popup, orderStyle: orderStyle,
    layers: layers, showOrder: showOrder, orderLink: orderLink,
  };
})();
