/* Road closures: the Closures page around its map (templates/routes/closures.html).
 *
 * The map is a separate document in an iframe srcdoc, drawn by static/js/lib/map_layers.js
 * (DispatchMap.closures, and DispatchMap.closureDrawing: Leaflet.draw's line and polygon tools). A
 * drawn shape comes from the frame with postMessage({type: "dispatch:closure-drawn", geometry}),
 * because Leaflet and the drawing live in the frame's window while the form lives in the page's.
 * Here: the form that POSTs /api/closures/, the "Lift" buttons (DELETE /api/closures/{id}/), the
 * API's errors, and the list's links that frame a closure on the map.
 *
 * Every text from the API or the database goes in through textContent, never innerHTML.
 */

import { api, postFrom, showErrors } from "./lib/api.js";
import { gettext, interpolate } from "./lib/i18n.js";
import { frameMap } from "./lib/map_frame.js";
import { CLOSURE_CLEAR, CLOSURE_DRAWN } from "./lib/map_layers.js";

document.addEventListener("DOMContentLoaded", page);

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
    if (!event.data || event.data.type !== CLOSURE_DRAWN) return;
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
    postFrom(submit, gettext("Saving…"), form.dataset.api, body, errors, function (closure) {
      frame.contentWindow.postMessage({ type: CLOSURE_CLEAR }, window.location.origin);
      window.location.assign(form.dataset.next + "?added=" + encodeURIComponent(closure.id));
    });
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
      var map = frameMap(frame);
      if (!map) return;
      event.preventDefault();
      if (map.showClosure(link.dataset.showClosure) && window.matchMedia("(max-width: 900px)").matches) {
        frame.scrollIntoView({ behavior: "smooth", block: "center" });
      }
    });
  });
}
