/* The customer's tracking page: live over /ws/track/<token>/, polling /api/track/<token>/ when the
   socket is unavailable. No third-party code; every request goes to this site. */
(function () {
  "use strict";
  var root = document.getElementById("tracking");
  if (!root) return;
  var token = root.dataset.token;
  var apiUrl = root.dataset.api;
  var state = JSON.parse(document.getElementById("tracking-state").textContent);
  var labels = JSON.parse(document.getElementById("tracking-labels").textContent);
  var lastSeq = -1;
  var pollTimer = null;
  var socket = null;
  var reconnectDelay = 2000;
  var POLL_MS = 30000;

  // Times in the company's zone, as the server writes them into the page: a customer whose phone
  // is set to another zone must not see the window jump by hours after the first update.
  var clock = null;
  try {
    clock = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: root.dataset.timeZone });
  } catch (e) { clock = null; }
  function hhmm(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (clock) return clock.format(d);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  // --- Map: vendored Leaflet over the app's own vector tiles (static/js/basemap.js), or the company's
  // own tile server (MAP_TILE_URL): nothing from another site.
  var map = null, destination = null, driver = null;
  var mapEl = document.getElementById("map");
  if (window.L && mapEl && state.destination) {
    var dest = [state.destination.lat, state.destination.lon];
    map = L.map(mapEl, { zoomControl: true, attributionControl: true }).setView(dest, 14);
    if (root.dataset.tileUrl) {
      L.tileLayer(root.dataset.tileUrl, { maxZoom: 19, attribution: root.dataset.tileAttribution || mapEl.dataset.osm }).addTo(map);
    } else {
      map.attributionControl.addAttribution(mapEl.dataset.osm);
      var baseMap = document.getElementById("tracking-base-map");
      if (baseMap && window.DispatchBaseMap) window.DispatchBaseMap.add(map, JSON.parse(baseMap.textContent));
    }
    destination = L.circleMarker(dest, { radius: 9, color: "#1d4ed8", fillColor: "#3b82f6", fillOpacity: 0.9 })
      .addTo(map).bindTooltip(mapEl.dataset.labelDestination);
  }

  function showDriver(position) {
    if (!map) return;
    if (!position) {
      if (driver) { map.removeLayer(driver); driver = null; }
      return;
    }
    var at = [position.lat, position.lon];
    if (!driver) {
      driver = L.circleMarker(at, { radius: 8, color: "#065f46", fillColor: "#10b981", fillOpacity: 1 })
        .addTo(map).bindTooltip(mapEl.dataset.labelDriver);
    } else {
      driver.setLatLng(at);
    }
    map.fitBounds(L.latLngBounds([at, destination.getLatLng()]).pad(0.3), { maxZoom: 16 });
  }

  function apply(next) {
    // Delivery, failure and a stop taken off the routes ("rescheduling": no window any more) change
    // which sections the page has: load it again.
    var reload = next.status !== state.status &&
      (next.status === "delivered" || next.status === "failed" || next.status === "rescheduling" ||
       state.status === "rescheduling");
    state = next;
    var statusEl = document.getElementById("status");
    statusEl.textContent = labels[next.status] || next.status;
    statusEl.dataset.status = next.status;
    var start = document.getElementById("window-start"), end = document.getElementById("window-end");
    if (start && next.eta_window && next.eta_window.start) start.textContent = hhmm(next.eta_window.start);
    if (end && next.eta_window && next.eta_window.end) end.textContent = hhmm(next.eta_window.end);
    var nextStop = document.getElementById("next-stop");
    if (nextStop) nextStop.hidden = !next.is_next_stop;
    var history = document.getElementById("history");
    if (history && next.events) {
      while (history.firstChild) history.removeChild(history.firstChild);
      next.events.forEach(function (event) {
        var li = document.createElement("li");
        var time = document.createElement("time");
        time.dateTime = event.at;
        time.textContent = hhmm(event.at);
        li.appendChild(time);
        li.appendChild(document.createTextNode(" " + (labels[event.status] || event.status)));
        history.appendChild(li);
      });
    }
    showDriver(next.driver_position);
    if (reload) window.location.reload();
  }

  function setLive(live) {
    var el = document.getElementById("live");
    el.hidden = false;
    el.textContent = live ? "● Live" : "";
    el.classList.toggle("on", live);
  }

  function poll() {
    fetch(apiUrl, { credentials: "omit", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) apply(data); })
      .catch(function () {});
  }

  function startPolling() {
    if (!pollTimer) pollTimer = window.setInterval(poll, POLL_MS);
  }

  function stopPolling() {
    if (pollTimer) { window.clearInterval(pollTimer); pollTimer = null; }
  }

  function connect() {
    if (!("WebSocket" in window)) { startPolling(); return; }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + "/ws/track/" + encodeURIComponent(token) + "/");
    // Each connection numbers its messages from 0 (the first is a full snapshot).
    socket.onopen = function () { lastSeq = -1; reconnectDelay = 2000; stopPolling(); setLive(true); };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (typeof message.seq === "number") {
        if (message.seq <= lastSeq) return; // an old message arriving late
        lastSeq = message.seq;
      }
      if (message.type === "tracking.state" && message.state) apply(message.state);
      else if (message.type === "driver.position") showDriver(message.lat != null ? message : null);
    };
    socket.onclose = function () {
      setLive(false);
      startPolling();
      window.setTimeout(connect, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, 60000);
    };
  }

  function wireForm(form, body) {
    if (!form) return;
    var status = form.querySelector(".form-status");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      status.textContent = "";
      fetch(form.dataset.url, {
        method: "POST",
        credentials: "omit",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body(form))
      }).then(function (r) {
        status.textContent = r.ok ? form.dataset.thanks : form.dataset.error;
        if (r.ok && form.id === "message-form") form.reset();
      }).catch(function () { status.textContent = form.dataset.error; });
    });
  }

  wireForm(document.getElementById("feedback-form"), function (form) {
    var checked = form.querySelector("input[name=rating]:checked");
    return { rating: checked ? parseInt(checked.value, 10) : null, comment: form.comment.value };
  });
  wireForm(document.getElementById("message-form"), function (form) { return { text: form.text.value }; });

  showDriver(state.driver_position);
  connect();
})();
