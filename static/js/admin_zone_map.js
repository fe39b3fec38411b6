/* The admin's zone editor (dispatch/admin_widgets.py, templates/admin/widgets/zone_polygon.html).
 *
 * One file, two places it runs (the map is a separate document in an iframe srcdoc):
 *  - inside the map document (a module there, like static/js/maps.js, so it runs after that one and
 *    finds DispatchMap; Leaflet.draw is a classic script before both): DispatchMap.zoneEditor draws
 *    the zone's polygon and Leaflet.draw's polygon, rectangle, edit and delete tools, and sends the
 *    polygon to the admin page with postMessage({type: "dispatch:zone-drawn", field, geometry}),
 *    while a corner is dragged as well as when an edit is saved or cancelled;
 *  - in the admin's change form (a classic script of the widget's Media): writes what the map sends
 *    into the field's textarea (the value the form saves), says how many corners the area has,
 *    redraws the map when GeoJSON is pasted into the textarea, and recolours the area when the
 *    zone's colour picker changes.
 *
 * Positions are GeoJSON's [lon, lat]. Texts go in through textContent only.
 */
(function () {
  "use strict";

  var DRAWN = "dispatch:zone-drawn";
  var SET = "dispatch:zone-set";

  if (window.DispatchMap && window.L) {
    mapDocument(window.DispatchMap, window.L);
  } else {
    document.addEventListener("DOMContentLoaded", page);
  }

  // --- Inside the map's frame ------------------------------------------------------------------

  function mapDocument(DispatchMap, L) {
    // The frame shares the page's origin (srcdoc inherits it); "null" only if it is ever sandboxed.
    var pageOrigin = window.origin && window.origin !== "null" ? window.origin : "*";

    DispatchMap.zoneEditor = function (map, options) {
      var style = { color: options.color, weight: 3, opacity: 0.9, fillColor: options.color, fillOpacity: 0.2 };
      var drawn = L.featureGroup().addTo(map);

      function load(geometry) {
        drawn.clearLayers();
        if (!geometry) return;
        L.geoJSON(geometry, { style: style }).eachLayer(function (layer) {
          drawn.addLayer(layer);
        });
      }

      function report() {
        var geometry = null;
        drawn.eachLayer(function (layer) {
          geometry = layer.toGeoJSON(6).geometry;
        });
        window.parent.postMessage({ type: DRAWN, field: options.field, geometry: geometry }, pageOrigin);
      }

      load(options.polygon);
      L.drawLocal.draw.toolbar.buttons.polygon = "Draw the zone's area";
      L.drawLocal.draw.toolbar.buttons.rectangle = "Draw the zone as a rectangle";
      L.drawLocal.draw.handlers.polygon.tooltip.start = "Click where the zone's border starts.";
      L.drawLocal.draw.handlers.polygon.tooltip.cont = "Click the next corner.";
      L.drawLocal.draw.handlers.polygon.tooltip.end = "Click the first corner to close the area.";
      L.drawLocal.edit.toolbar.buttons.edit = "Move the zone's corners";
      L.drawLocal.edit.toolbar.buttons.remove = "Delete the zone's area";
      map.addControl(
        new L.Control.Draw({
          position: "topleft",
          draw: {
            polygon: { shapeOptions: style, allowIntersection: false, showArea: true, metric: true },
            rectangle: { shapeOptions: style, showArea: false },
            polyline: false, circle: false, marker: false, circlemarker: false,
          },
          edit: { featureGroup: drawn, remove: true },
        })
      );

      // One area per zone: a new drawing replaces the previous one.
      map.on(L.Draw.Event.CREATED, function (event) {
        drawn.clearLayers();
        drawn.addLayer(event.layer);
        report();
      });
      // While corners are dragged the form follows, so "Save" in the admin keeps what is on the map
      // even when the map's own "Save" was not clicked; "Cancel" puts the corners back, and reports that.
      map.on(
        [L.Draw.Event.EDITED, L.Draw.Event.EDITVERTEX, L.Draw.Event.EDITMOVE, L.Draw.Event.EDITSTOP,
          L.Draw.Event.DELETED, L.Draw.Event.DELETESTOP].join(" "),
        report
      );

      window.addEventListener("message", function (event) {
        if (event.source !== window.parent || !event.data || event.data.type !== SET) return;
        if (event.data.color) {
          style.color = style.fillColor = event.data.color;
          drawn.setStyle({ color: style.color, fillColor: style.color });
        }
        if ("geometry" in event.data) {
          load(event.data.geometry);
          if (drawn.getLayers().length) map.fitBounds(drawn.getBounds(), { maxZoom: 16, padding: [24, 24] });
        }
      });
      DispatchMap.layers.zone = drawn;
      return drawn;
    };
  }

  // --- The admin's change form -----------------------------------------------------------------

  function describe(geometry) {
    if (!geometry) return "Nothing drawn: draw the zone's area on the map.";
    var outer = (geometry.coordinates || [[]])[0] || [];
    var corners = Math.max(outer.length - 1, 0);
    return "Area with " + corners + " corner" + (corners === 1 ? "" : "s") + ".";
  }

  function readPolygon(text) {
    try {
      var value = JSON.parse(text);
      return value && value.type === "Polygon" && Array.isArray(value.coordinates) ? value : undefined;
    } catch (error) {
      return undefined;
    }
  }

  function setUp(editor) {
    var frame = editor.querySelector("iframe");
    var textarea = editor.querySelector("textarea");
    var status = editor.querySelector("[data-zone-status]");
    var color = editor.closest("form") && editor.closest("form").querySelector("input[type=color]");

    function tellMap(message) {
      message.type = SET;
      if (frame.contentWindow) frame.contentWindow.postMessage(message, window.location.origin);
    }

    window.addEventListener("message", function (event) {
      // Only this field's own map may hand it a polygon.
      if (event.source !== frame.contentWindow || event.origin !== window.location.origin) return;
      if (!event.data || event.data.type !== DRAWN || event.data.field !== editor.dataset.field) return;
      textarea.value = event.data.geometry ? JSON.stringify(event.data.geometry) : "";
      status.textContent = describe(event.data.geometry);
      editor.classList.toggle("zone-editor-drawn", !!event.data.geometry);
    });

    // Pasted GeoJSON: redraw the map with it (what is not a Polygon is left for the form to explain).
    textarea.addEventListener("change", function () {
      var text = textarea.value.trim();
      if (!text) {
        tellMap({ geometry: null });
        status.textContent = describe(null);
        return;
      }
      var polygon = readPolygon(text);
      if (polygon === undefined) {
        status.textContent = "The text below is not a readable GeoJSON Polygon; saving will say what is wrong.";
        return;
      }
      tellMap({ geometry: polygon });
      status.textContent = describe(polygon);
    });

    if (color) {
      color.addEventListener("input", function () {
        tellMap({ color: color.value });
      });
    }
  }

  function page() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-zone-editor]"), setUp);
  }
})();
