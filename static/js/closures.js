/* Road closures: the map layers and drawing tools, and the Closures page around the map.
 *
 * One file, two places it runs (the map is a separate document in an iframe srcdoc):
 *  - inside the map document (dispatch/maps.py links it after maps.js): registers
 *    DispatchMap.closures (red lines and areas with popups) and DispatchMap.closureDrawing
 *    (Leaflet.draw's line and polygon tools). A drawn shape is sent to the page with
 *    postMessage({type: "dispatch:closure-drawn", geometry}), because Leaflet and the drawing
 *    live in the frame's window while the form lives in the page's.
 *  - in the Closures page (templates/routes/closures.html): the form that POSTs
 *    /api/closures/, the "Lift" buttons (DELETE /api/closures/{id}/) and the API's errors.
 *
 * Every text from the API or the database goes in through textContent, never innerHTML.
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

  var DRAWN = "dispatch:closure-drawn";
  var CLEAR = "dispatch:closure-clear";

  if (window.DispatchMap && window.L) {
    mapDocument(window.DispatchMap, window.L);
  } else {
    document.addEventListener("DOMContentLoaded", page);
  }

  // --- Inside the map's frame ------------------------------------------------------------------

  function mapDocument(DispatchMap, L) {
    function style(closure) {
      return {
        color: closure.color, weight: 5, opacity: 0.9, fillColor: closure.color, fillOpacity: 0.18,
        dashArray: closure.upcoming ? "8 6" : null, lineCap: "round",
      };
    }

    DispatchMap.closures = function (map, data) {
      var group = L.featureGroup();
      group.byId = {};
      data.forEach(function (closure) {
        var layer = L.geoJSON(closure.geometry, { style: style(closure) }).bindPopup(
          DispatchMap.popup(interpolate(gettext("Closed: %(reason)s"), { reason: closure.reason }), [
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
      DispatchMap.layers.closures = group;
      return group.addTo(map);
    };

    // Frames a closure and opens its popup, e.g. when its row in the page's list is clicked.
    DispatchMap.showClosure = function (id) {
      var layer = DispatchMap.layers.closures && DispatchMap.layers.closures.byId[id];
      if (!layer) return false;
      layer._map.fitBounds(layer.getBounds(), { maxZoom: 16, padding: [40, 40] });
      layer.openPopup();
      return true;
    };

    // The frame shares the page's origin (srcdoc inherits it); "null" only if it is ever sandboxed.
    var pageOrigin = window.origin && window.origin !== "null" ? window.origin : "*";

    DispatchMap.closureDrawing = function (map, options) {
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
        window.parent.postMessage({ type: DRAWN, geometry: geometry }, pageOrigin);
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
        if (event.source !== window.parent || (event.data && event.data.type) !== CLEAR) return;
        drawn.clearLayers();
      });
      DispatchMap.layers.drawn = drawn;
      return drawn;
    };
  }

  // --- The Closures page -----------------------------------------------------------------------

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function api(method, url, body) {
    var init = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (response) {
      if (response.status === 204) return null;
      return response.json().then(
        function (data) {
          if (!response.ok) throw data;
          return data;
        },
        function () {
          throw { detail: interpolate(gettext("The server answered %(status)s %(text)s"), { status: response.status, text: response.statusText }), errors: [] };
        }
      );
    }, function () {
      throw { detail: gettext("The server could not be reached. Check the connection and try again."), errors: [] };
    });
  }

  // The API's error shape: {detail, errors: [{field, value, message}]}.
  function showErrors(box, error) {
    box.replaceChildren();
    var title = document.createElement("p");
    title.className = "error-title";
    title.textContent = (error && error.detail) || gettext("Something went wrong.");
    box.appendChild(title);
    var items = (error && error.errors) || [];
    if (items.length) {
      var list = document.createElement("ul");
      items.forEach(function (item) {
        var li = document.createElement("li");
        if (item.field) {
          var field = document.createElement("b");
          field.textContent = item.field + ": ";
          li.appendChild(field);
        }
        li.appendChild(document.createTextNode(item.message));
        if (item.value !== undefined && item.value !== null && item.value !== "") {
          var value = document.createElement("code");
          value.textContent = String(item.value);
          li.appendChild(document.createTextNode(" "));
          li.appendChild(value);
        }
        list.appendChild(li);
      });
      box.appendChild(list);
    }
    box.hidden = false;
    box.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  // A datetime-local value ("2026-11-24T10:30") is local time in the delivery region; the API
  // reads an ISO time without offset in the server's time zone (TIME_ZONE), which is that region's.
  function localTime(input) {
    return input.value ? input.value : undefined;
  }

  function lengthLabel(geometry) {
    if (geometry.type !== "LineString") return gettext("an area");
    var metres = 0;
    for (var i = 1; i < geometry.coordinates.length; i++) {
      var a = geometry.coordinates[i - 1], b = geometry.coordinates[i];
      var dLat = (b[1] - a[1]) * 111320;
      var dLon = (b[0] - a[0]) * 111320 * Math.cos(((a[1] + b[1]) / 2) * Math.PI / 180);
      metres += Math.sqrt(dLat * dLat + dLon * dLon);
    }
    return metres >= 1000 ? "a road of " + (metres / 1000).toFixed(1) + " km" : "a road of " + Math.round(metres) + " m";
  }

  function page() {
    var frame = document.querySelector(".map-frame");
    var form = document.getElementById("closure-form");
    if (!frame || !form) return;
    var errors = document.getElementById("closure-errors");
    var shapeNote = document.getElementById("closure-shape");
    var submit = form.querySelector("button[type=submit]");
    var geometry = null;

    window.addEventListener("message", function (event) {
      // Only our own map's frame may hand us a shape.
      if (event.source !== frame.contentWindow || event.origin !== window.location.origin) return;
      if (!event.data || event.data.type !== DRAWN) return;
      geometry = event.data.geometry;
      shapeNote.textContent = geometry ? interpolate(gettext("Drawn: %(shape)s."), { shape: lengthLabel(geometry) }) : shapeNote.dataset.empty;
      shapeNote.classList.toggle("ok", !!geometry);
      errors.hidden = true;
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!geometry) {
        showErrors(errors, {
          detail: gettext("Draw the closed road on the map first."),
          errors: [{ field: "geometry", message: "use the line tool for a road, the polygon tool for an area" }],
        });
        return;
      }
      var body = {
        geometry: geometry,
        reason: form.elements.reason.value.trim(),
        starts_at: localTime(form.elements.starts_at),
        ends_at: localTime(form.elements.ends_at) || null,
      };
      submit.disabled = true;
      submit.textContent = gettext("Saving…");
      api("POST", form.dataset.api, body).then(
        function (closure) {
          frame.contentWindow.postMessage({ type: CLEAR }, window.location.origin);
          window.location.assign(form.dataset.next + "?added=" + encodeURIComponent(closure.id));
        },
        function (error) {
          submit.disabled = false;
          submit.textContent = submit.dataset.label;
          showErrors(errors, error);
        }
      );
    });

    document.querySelectorAll("[data-lift]").forEach(function (button) {
      button.addEventListener("click", function () {
        var item = button.closest("[data-closure]");
        if (!window.confirm(interpolate(gettext("Lift the closure “%(reason)s”? The road is open again from now on."), { reason: button.dataset.reason }))) {
          return;
        }
        button.disabled = true;
        api("DELETE", button.dataset.lift).then(
          function () {
            window.location.assign(form.dataset.next + "?lifted=" + encodeURIComponent(item.dataset.closure));
          },
          function (error) {
            button.disabled = false;
            showErrors(document.getElementById("list-errors"), error);
          }
        );
      });
    });

    document.querySelectorAll("[data-show-closure]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        var win = frame.contentWindow;
        if (!win || !win.DispatchMap || !win.DispatchMap.showClosure) return;
        event.preventDefault();
        if (win.DispatchMap.showClosure(link.dataset.showClosure) && window.matchMedia("(max-width: 900px)").matches) {
          frame.scrollIntoView({ behavior: "smooth", block: "center" });
        }
      });
    });
  }
})();
