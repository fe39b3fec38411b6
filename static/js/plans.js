/* Plans: the map layers of a plan, and the Plans pages around the map.
 *
 * One file, two places it runs (the map is a separate document in an iframe srcdoc):
 *  - inside the map document (dispatch/maps.py links it after maps.js): registers
 *    DispatchMap.routes (each route's road path in its colour, numbered stops),
 *    DispatchMap.unassigned and DispatchMap.showRoute.
 *  - in the pages (templates/routes/plans.html, plan_detail.html): asks for a plan
 *    (POST /api/plans/), follows its progress (GET /api/plans/{id}/ every second, then reloads
 *    the page, which the server renders with the result), picks an option (POST .../select/)
 *    and dispatches (POST .../dispatch/). API errors are shown as the API words them.
 *
 * Every text from the API or the database goes in through textContent, never innerHTML.
 */
(function () {
  "use strict";

  if (window.DispatchMap && window.L) {
    mapDocument(window.DispatchMap, window.L);
  } else {
    document.addEventListener("DOMContentLoaded", page);
  }

  // --- Inside the map's frame ------------------------------------------------------------------

  function mapDocument(DispatchMap, L) {
    function el(tag, className, text) {
      var node = document.createElement(tag);
      if (className) node.className = className;
      if (text !== undefined && text !== null) node.textContent = text;
      return node;
    }

    function stopIcon(stop, color) {
      var label = el("span", null, String(stop.sequence));
      label.style.background = color;
      if (stop.late_min) label.className = "late";
      return L.divIcon({ className: "stop-marker", html: label, iconSize: null });
    }

    DispatchMap.routes = function (map, data) {
      var group = L.featureGroup();
      group.byId = {};
      data.forEach(function (route) {
        var layer = L.featureGroup();
        if (route.geometry && route.geometry.coordinates && route.geometry.coordinates.length) {
          // A white casing under the coloured line keeps crossing routes apart.
          L.geoJSON(route.geometry, { style: { color: "#ffffff", weight: 7, opacity: 0.9 }, interactive: false }).addTo(layer);
          L.geoJSON(route.geometry, { style: { color: route.color, weight: 4, opacity: 0.9 } })
            .bindTooltip(el("span", null, route.vehicle + (route.driver ? " · " + route.driver : "")), { sticky: true })
            .addTo(layer);
        }
        route.stops.forEach(function (stop) {
          var rows = [
            ["Vehicle", route.vehicle],
            ["Customer", stop.customer],
            ["Address", stop.address],
            ["Arrives", stop.eta + (stop.etd && stop.etd !== stop.eta ? "–" + stop.etd : "")],
            ["Window", stop.window],
          ];
          if (stop.late_min) rows.push(["Late", stop.late_min + " min", "#dc2626"]);
          L.marker([stop.lat, stop.lon], { icon: stopIcon(stop, route.color), title: stop.reference, riseOnHover: true })
            .bindPopup(DispatchMap.popup(stop.sequence + ". " + stop.reference, rows))
            .addTo(layer);
        });
        layer.route = route;
        group.byId[route.id] = layer;
        layer.addTo(group);
      });
      DispatchMap.layers.routes = group;
      return group.addTo(map);
    };

    DispatchMap.unassigned = function (map, data) {
      var group = L.featureGroup();
      data.forEach(function (order) {
        var icon = L.divIcon({ className: "unassigned-marker", html: el("span", null, "!"), iconSize: null });
        L.marker([order.lat, order.lon], { icon: icon, title: order.reference, zIndexOffset: 500 })
          .bindPopup(
            DispatchMap.popup(order.reference + " · not planned", [
              ["Reason", order.reason, order.color],
              ["Customer", order.customer],
              ["Address", order.address],
              ["Window", order.window],
            ])
          )
          .addTo(group);
      });
      DispatchMap.layers.unassigned = group;
      return group.addTo(map);
    };

    // Frames one route (its row in the page's table was clicked) and brings it to the front.
    DispatchMap.showRoute = function (id) {
      var layer = DispatchMap.layers.routes && DispatchMap.layers.routes.byId[id];
      if (!layer) return false;
      layer.eachLayer(function (part) {
        if (part.bringToFront) part.bringToFront();
      });
      var bounds = layer.getBounds();
      if (bounds.isValid()) layer._map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
      return true;
    };
  }

  // --- The pages -------------------------------------------------------------------------------

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
      return response.json().then(
        function (data) {
          if (!response.ok) throw data;
          return data;
        },
        function () {
          throw { detail: "The server answered " + response.status + " " + response.statusText, errors: [] };
        }
      );
    }, function () {
      throw { detail: "The server could not be reached. Check the connection and try again.", errors: [] };
    });
  }

  // The API's error shape: {detail, errors: [{field, value, message}]}.
  function showErrors(box, error) {
    if (!box) return;
    box.replaceChildren();
    var title = document.createElement("p");
    title.className = "error-title";
    title.textContent = (error && error.detail) || "Something went wrong.";
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
          value.textContent = typeof item.value === "object" ? JSON.stringify(item.value) : String(item.value);
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

  function busy(button, text) {
    button.dataset.label = button.dataset.label || button.textContent;
    button.disabled = true;
    button.textContent = text;
  }

  function idle(button) {
    button.disabled = false;
    button.textContent = button.dataset.label;
  }

  // Plan.stage in a dispatcher's words (the same table as routes/views.py STAGE_LABELS).
  var STAGES = {
    queued: "Waiting to start",
    "computing travel times": "Computing travel times",
    optimizing: "Optimizing",
    saving: "Saving",
    done: "Done",
    failed: "Failed",
  };

  function page() {
    requestForm();
    progress();
    pickButtons();
    dispatchButton();
    routeRows();
  }

  function requestForm() {
    var form = document.getElementById("plan-form");
    if (!form) return;
    var errors = document.getElementById("plan-errors");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      var objective = form.elements.objective.value;
      var body = { date: form.elements.date.value };
      if (form.elements.depot && form.elements.depot.value) body.depot = form.elements.depot.value;
      if (objective === "compare") body.alternatives = ["cost", "balanced", "fewest_vehicles"];
      else body.objective = objective;
      errors.hidden = true;
      busy(button, "Asking…");
      api("POST", form.dataset.api, body).then(
        function (queued) {
          window.location.assign(form.dataset.detail + encodeURIComponent(queued.id) + "/");
        },
        function (error) {
          idle(button);
          showErrors(errors, error);
        }
      );
    });
  }

  // Polls each plan still being computed every second; reloads the page once none is.
  function progress() {
    var box = document.getElementById("plan-progress");
    if (!box) return;
    var items = Array.prototype.slice.call(box.querySelectorAll("[data-poll]"));
    var failures = 0;

    function update(item, plan) {
      var percent = plan.status === "done" || plan.status === "failed" ? 100 : plan.progress || 0;
      item.querySelector(".progress-stage").textContent = STAGES[plan.stage] || plan.stage;
      item.querySelector(".progress-percent").textContent = percent + " %";
      var bar = item.querySelector("[role=progressbar]");
      bar.setAttribute("aria-valuenow", String(percent));
      bar.querySelector("span").style.width = percent + "%";
      item.classList.toggle("failed", plan.status === "failed");
      item.dataset.finished = plan.status === "done" || plan.status === "failed" ? "1" : "";
    }

    function poll() {
      var open = items.filter(function (item) {
        return !item.dataset.finished;
      });
      Promise.all(
        open.map(function (item) {
          return api("GET", item.dataset.poll).then(function (plan) {
            update(item, plan);
          });
        })
      ).then(
        function () {
          failures = 0;
          var running = items.some(function (item) {
            return !item.dataset.finished;
          });
          if (running) window.setTimeout(poll, 1000);
          else window.location.reload();
        },
        function (error) {
          // A restart of the server or a dropped connection: keep trying, a bit slower, and say so.
          failures += 1;
          if (failures >= 3) showErrors(box.querySelector(".api-errors"), error);
          window.setTimeout(poll, Math.min(1000 * failures, 10000));
        }
      );
    }

    window.setTimeout(poll, 1000);
  }

  function pickButtons() {
    document.querySelectorAll("[data-select]").forEach(function (button) {
      button.addEventListener("click", function () {
        busy(button, "Picking…");
        api("POST", button.dataset.select).then(
          function () {
            window.location.assign(button.dataset.next);
          },
          function (error) {
            idle(button);
            showErrors(document.getElementById("action-errors"), error);
          }
        );
      });
    });
  }

  function dispatchButton() {
    var button = document.getElementById("dispatch-button");
    if (!button) return;
    button.addEventListener("click", function () {
      if (!window.confirm(button.dataset.confirm)) return;
      busy(button, "Dispatching…");
      api("POST", button.dataset.dispatch).then(
        function () {
          window.location.reload();
        },
        function (error) {
          idle(button);
          showErrors(document.getElementById("action-errors"), error);
        }
      );
    });
  }

  // A click on a route's row (or Enter on it) frames that route on the map.
  function routeRows() {
    var frame = document.querySelector(".map-frame");
    var table = document.querySelector("table.routes");
    if (!frame || !table) return;

    function show(row) {
      var win = frame.contentWindow;
      if (!win || !win.DispatchMap || !win.DispatchMap.showRoute) return;
      var previous = table.querySelector("tr.selected");
      if (previous) previous.classList.remove("selected");
      if (win.DispatchMap.showRoute(row.dataset.route)) {
        row.classList.add("selected");
        if (window.matchMedia("(max-width: 1100px)").matches) frame.scrollIntoView({ behavior: "smooth", block: "center" });
      }
    }

    table.addEventListener("click", function (event) {
      var row = event.target.closest("tr[data-route]");
      if (row) show(row);
    });
    table.addEventListener("keydown", function (event) {
      var row = event.target.closest("tr[data-route]");
      if (row && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        show(row);
      }
    });
  }
})();
