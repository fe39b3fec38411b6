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
 * Positions are GeoJSON's [lon, lat]. Texts go in through textContent only (Leaflet.draw's own
 * tooltips take L.drawLocal's strings as HTML: ours carry no markup).
 *
 * Words come from the project's catalog (locale/<lang>/LC_MESSAGES/djangojs.po): the admin's change
 * form loads admin:jsi18n, which serves it too (LOCALE_PATHS); the map's frame borrows its page's.
 */
(function () {
  "use strict";

  var catalog = (function () {
    try {
      if (window.gettext) return window;
      if (window.parent && window.parent !== window && window.parent.gettext) return window.parent;
    } catch (error) { /* a frame of another origin */ }
    return null;
  })();

  function gettext(text) {
    return catalog ? catalog.gettext(text) : text;
  }

  function ngettext(singular, plural, count) {
    return catalog ? catalog.ngettext(singular, plural, count) : count === 1 ? singular : plural;
  }

  // Django's named placeholders, "%(name)s", filled from `values`.
  function interpolate(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (match, key) { return String(values[key]); });
  }

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
      translateDrawTools(L.drawLocal);
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

  // Leaflet.draw's toolbar, tooltips and buttons in the page's language (its defaults are English).
  function translateDrawTools(local) {
    var draw = local.draw, edit = local.edit;
    draw.toolbar.actions = { title: gettext("Cancel drawing"), text: gettext("Cancel") };
    draw.toolbar.finish = { title: gettext("Finish drawing"), text: gettext("Finish") };
    draw.toolbar.undo = { title: gettext("Delete the last corner drawn"), text: gettext("Delete last corner") };
    draw.toolbar.buttons.polygon = gettext("Draw the zone's area");
    draw.toolbar.buttons.rectangle = gettext("Draw the zone as a rectangle");
    draw.handlers.polygon.tooltip = {
      start: gettext("Click where the zone's border starts."),
      cont: gettext("Click the next corner."),
      end: gettext("Click the first corner to close the area."),
    };
    draw.handlers.polyline.error = gettext("The area's borders must not cross.");
    draw.handlers.rectangle.tooltip.start = gettext("Click and drag to draw a rectangle.");
    draw.handlers.simpleshape.tooltip.end = gettext("Release the mouse to finish the drawing.");
    edit.toolbar.actions = {
      save: { title: gettext("Keep the changes"), text: gettext("Save") },
      cancel: { title: gettext("Cancel editing and undo every change"), text: gettext("Cancel") },
      clearAll: { title: gettext("Delete the whole area"), text: gettext("Delete all") },
    };
    edit.toolbar.buttons.edit = gettext("Move the zone's corners");
    edit.toolbar.buttons.editDisabled = gettext("Nothing drawn to edit");
    edit.toolbar.buttons.remove = gettext("Delete the zone's area");
    edit.toolbar.buttons.removeDisabled = gettext("Nothing drawn to delete");
    edit.handlers.edit.tooltip = {
      text: gettext("Drag the corners to change the area."),
      subtext: gettext("Click Cancel to undo the changes."),
    };
    edit.handlers.remove.tooltip = { text: gettext("Click the area to delete it.") };
  }

  // --- The admin's change form -----------------------------------------------------------------

  function describe(geometry) {
    if (!geometry) return gettext("Nothing drawn: draw the zone's area on the map.");
    var outer = (geometry.coordinates || [[]])[0] || [];
    var corners = Math.max(outer.length - 1, 0);
    return interpolate(ngettext("Area with %(corners)s corner.", "Area with %(corners)s corners.", corners), { corners: corners });
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
        status.textContent = gettext("The text below is not a readable GeoJSON Polygon; saving will say what is wrong.");
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
