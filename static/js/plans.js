/* Plans: the Plans pages around a plan's map (templates/routes/plans.html, plan_detail.html).
 *
 * The map itself is a separate document in an iframe srcdoc, drawn by static/js/lib/map_layers.js
 * (DispatchMap.routes, unassigned, showRoute, redrawPlan); this module talks to it through the frame.
 *  - asks for a plan (POST /api/plans/), follows its progress (GET /api/plans/{id}/ every second,
 *    then reloads the page, which the server renders with the result), picks an option
 *    (POST .../select/) and dispatches (POST .../dispatch/). API errors are shown as the API words them.
 *  - the plan editor (plan_detail.html, data in #plan-editor): drag a stop to another place or
 *    route (or "Move…" for keyboards and phones), pin stops, lock routes, take orders out or drag
 *    unassigned ones in, and "Move to route…" in the map's popups (the frame posts
 *    {type: "dispatch:plan-move"} to the page). Every change is one POST /api/plans/{id}/edit/;
 *    its answer (the plan as GET /api/plans/{id}/ returns it) redraws the totals, warnings, lists
 *    and map at once. A dispatched plan answers with a new version: the page goes there.
 *  - courier partners (editor.partners, editor.partner_orders: who may take which order, at what
 *    price): "To partner…" on a stop or a not-planned order hands it to one of them
 *    ({op: "move", partner}); the "Courier partners" boxes list what each has, with "Move…" back to
 *    one of our routes, to another partner or out of the plan. Stops drop on a partner's box too.
 *
 * Every text from the API or the database goes in through textContent, never innerHTML.
 */

import { api, postFrom, showErrors } from "./lib/api.js";
import { el } from "./lib/dom.js";
import { gettext, interpolate, ngettext } from "./lib/i18n.js";
import { frameMap, showRowsOnMap } from "./lib/map_frame.js";

document.addEventListener("DOMContentLoaded", page);

// Plan.stage in a dispatcher's words (the same table as routes/plans/views.py STAGE_LABELS).
var STAGES = {
  queued: gettext("Waiting to start"),
  "computing travel times": gettext("Computing travel times"),
  optimizing: gettext("Optimizing"),
  "solving regions": gettext("Solving regions"),
  "improving across borders": gettext("Improving across region borders"),
  saving: gettext("Saving"),
  done: gettext("Done"),
  failed: gettext("Failed"),
};

function page() {
  requestForm();
  progress();
  pickButtons();
  dispatchButton();
  proposalButtons();
  reoptimizeButton();
  routeRows();
  planEditor();
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
    postFrom(button, gettext("Asking…"), form.dataset.api, body, errors, function (queued) {
      window.location.assign(form.dataset.detail + encodeURIComponent(queued.id) + "/");
    });
  });
}

// Where a queued plan stands in the plans queue (API: queue_position), e.g. " · 2 tasks ahead".
function placeInLine(plan) {
  if (plan.status !== "queued" || plan.queue_position === null || plan.queue_position === undefined) return "";
  if (plan.queue_position === 0) return " · " + gettext("next in line");
  return " · " + interpolate(ngettext("%(count)s task ahead", "%(count)s tasks ahead", plan.queue_position), { count: plan.queue_position });
}

// A big day planned in parts across the workers (API: parts), e.g. " · 3 of 15 regions solved".
function partsDone(plan) {
  if (!plan.parts) return "";
  return " · " + interpolate(gettext("%(done)s of %(total)s regions solved"), { done: plan.parts.done, total: plan.parts.total });
}

// Polls each plan still being computed every second; reloads the page once none is.
function progress() {
  var box = document.getElementById("plan-progress");
  if (!box) return;
  var items = Array.prototype.slice.call(box.querySelectorAll("[data-poll]"));
  var failures = 0;

  function update(item, plan) {
    var percent = plan.status === "done" || plan.status === "failed" ? 100 : plan.progress || 0;
    item.querySelector(".progress-stage").textContent = (STAGES[plan.stage] || plan.stage) + placeInLine(plan) + partsDone(plan);
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
      postFrom(button, gettext("Picking…"), button.dataset.select, undefined, document.getElementById("action-errors"), function () {
        window.location.assign(button.dataset.next);
      });
    });
  });
}

function dispatchButton() {
  var button = document.getElementById("dispatch-button");
  if (!button) return;
  button.addEventListener("click", function () {
    if (!window.confirm(button.dataset.confirm)) return;
    postFrom(button, gettext("Dispatching…"), button.dataset.dispatch, undefined, document.getElementById("action-errors"), function () {
      window.location.reload();
    });
  });
}

// A proposed re-plan (routes/plans/proposals.py): approve or reject, then show the outcome.
// One decision at a time: while one is on its way, neither button can send the other.
function proposalButtons() {
  var buttons = Array.prototype.slice.call(document.querySelectorAll("button[data-decide]"));
  var errors = document.getElementById("proposal-errors");
  buttons.forEach(function (button) {
    button.addEventListener("click", function () {
      if (!window.confirm(button.dataset.confirm)) return;
      if (errors) errors.hidden = true;
      buttons.forEach(function (other) { other.disabled = true; });
      postFrom(
        button, gettext("Sending…"), button.dataset.decide, undefined, errors,
        function () {
          window.location.reload();
        },
        function () {
          buttons.forEach(function (other) { other.disabled = false; });
        }
      );
    });
  });
}

// A click on a route's row (or Enter on it) frames that route on the map. Delegated from the
// document: the editor draws the table again after every change.
function routeRows() {
  var frame = document.querySelector(".map-frame");
  if (!frame) return;
  showRowsOnMap(frame, document, "table.routes tr[data-route]", "(max-width: 1100px)", function (map, row) {
    return map.showRoute(row.dataset.route);
  });
}

// A new version optimized again (pins and locks kept); its page follows the progress.
function reoptimizeButton() {
  var button = document.getElementById("reoptimize-button");
  var source = document.getElementById("plan-editor");
  if (!button || !source) return;
  button.addEventListener("click", function () {
    var editor = JSON.parse(source.textContent);
    postFrom(button, gettext("Asking…"), button.dataset.reoptimize, {}, document.getElementById("action-errors"), function (queued) {
      window.location.assign(editor.urls.detail.replace("/0/", "/" + encodeURIComponent(queued.id) + "/"));
    });
  });
}

// --- The plan editor -------------------------------------------------------------------------

var MOVABLE = { new: true, planned: true, dispatched: true }; // routes/plans/editing.py MOVABLE_STATUSES
var NOTICE_KEY = "dispatch:plan-notice";

function km(metres) {
  return ((metres || 0) / 1000).toFixed(1) + " km";
}

// The same words as routes/plans/views.py duration_label: "3 h 05 min", "42 min".
function duration(seconds) {
  var minutes = Math.round((seconds || 0) / 60);
  var hours = Math.floor(minutes / 60);
  minutes = minutes % 60;
  return hours ? hours + " h " + (minutes < 10 ? "0" : "") + minutes + " min" : minutes + " min";
}

// The API writes times in the company's zone ("2026-11-24T08:10:00+01:00"): its clock is what we show.
function hhmm(iso) {
  return iso ? iso.slice(11, 16) : "";
}

function planEditor() {
  var source = document.getElementById("plan-editor");
  var board = document.getElementById("plan-board");
  var editor = source && JSON.parse(source.textContent);
  if (!editor || !board) return;
  var plan = editor.plan;
  var vehicles = editor.vehicles;
  var vehicleById = {};
  vehicles.forEach(function (vehicle) {
    vehicleById[vehicle.id] = vehicle;
  });
  var open = {}; // vehicle id -> its stop list is shown
  var partners = editor.partners || []; // the day's courier partners, and any holding orders of the plan
  var partnerOrders = editor.partner_orders || {}; // order id -> [{code, price}] of the partners that may take it
  var partnerName = {};
  partners.forEach(function (partner) {
    partnerName[partner.code] = partner.name;
  });
  var saving = false;
  var dragged = null; // {order, vehicle (null when not planned)}

  var bar = el("div", "edit-bar");
  var status = el("p", "edit-status");
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  var errors = el("div", "api-errors");
  errors.id = "edit-errors";
  errors.setAttribute("role", "alert");
  errors.hidden = true;
  bar.appendChild(status);
  bar.appendChild(errors);
  var content = el("div", "board-content");
  board.replaceChildren(bar, content);

  showNotice();
  render(false);
  board.addEventListener("click", onClick);
  board.addEventListener("dragstart", onDragStart);
  board.addEventListener("dragover", onDragOver);
  board.addEventListener("dragleave", onDragLeave);
  board.addEventListener("drop", onDrop);
  board.addEventListener("dragend", clearDrag);
  window.addEventListener("message", onMapMessage);

  // --- Reading the plan ---

  function routeOf(vehicleId) {
    return plan.routes.filter(function (route) {
      return route.vehicle === vehicleId;
    })[0];
  }

  function findStop(orderId) {
    for (var i = 0; i < plan.routes.length; i += 1) {
      for (var j = 0; j < plan.routes[i].stops.length; j += 1) {
        if (plan.routes[i].stops[j].order === orderId) return { route: plan.routes[i], stop: plan.routes[i].stops[j] };
      }
    }
    return null;
  }

  // The code of the courier partner the plan gives an order to, or null.
  function partnerOf(orderId) {
    var groups = plan.handoffs || [];
    for (var i = 0; i < groups.length; i += 1) {
      if (groups[i].orders.indexOf(orderId) >= 0) return groups[i].partner;
    }
    return null;
  }

  // The partners that may take an order (its area, skills, hours), other than the one that has it.
  function partnersFor(orderId) {
    var holder = partnerOf(orderId);
    return (partnerOrders[String(orderId)] || []).filter(function (choice) {
      return choice.code !== holder;
    });
  }

  function referenceOf(orderId) {
    var found = findStop(orderId);
    if (found) return found.stop.reference;
    var known = editor.orders[String(orderId)];
    if (known && known.reference) return known.reference;
    var item = plan.unassigned.filter(function (u) {
      return u.order === orderId;
    })[0];
    return item ? item.reference : "#" + orderId;
  }

  function place(orderId) {
    var known = editor.orders[String(orderId)] || {};
    return { lat: known.lat, lon: known.lon };
  }

  // Metres between two {lat, lon}, flat-earth: enough to rank insertion places within a city.
  function distance(a, b) {
    var x = (b.lon - a.lon) * Math.cos(((a.lat + b.lat) / 2) * (Math.PI / 180));
    var y = b.lat - a.lat;
    return Math.sqrt(x * x + y * y) * 111320;
  }

  // Where an order adds the least straight-line detour to a vehicle's route (1-based position).
  function bestPosition(vehicleId, orderId) {
    var route = routeOf(vehicleId);
    var stops = route
      ? route.stops.filter(function (stop) {
          return stop.order !== orderId;
        })
      : [];
    var target = place(orderId);
    if (!stops.length || target.lat === undefined) return 1;
    var depot = vehicleById[vehicleId] && vehicleById[vehicleId].depot;
    var home = depot ? { lat: depot[0], lon: depot[1] } : stops[0];
    var points = [home].concat(stops).concat([home]);
    var best = 1;
    var bestCost = Infinity;
    for (var i = 0; i < points.length - 1; i += 1) {
      var cost = distance(points[i], target) + distance(target, points[i + 1]) - distance(points[i], points[i + 1]);
      if (cost < bestCost) {
        bestCost = cost;
        best = i + 1;
      }
    }
    return best;
  }

  // --- Drawing ---

  function render(redrawMap) {
    renderTotals();
    renderWarnings();
    renderBoard();
    if (redrawMap) renderMap();
  }

  function renderTotals() {
    var box = document.getElementById("plan-totals");
    if (!box) return;
    var driving = 0;
    var stops = 0;
    plan.routes.forEach(function (route) {
      driving += route.driving_s;
      stops += route.stops.length;
    });
    var values = {
      vehicles: String(plan.totals.vehicles_used),
      stops: String(stops),
      distance: km(plan.totals.distance_m),
      driving: duration(driving),
      longest: duration(plan.totals.longest_route_s),
      cost: Number(plan.totals.cost).toFixed(2),
      late: duration(plan.totals.lateness_s),
      unassigned: String(plan.totals.unassigned),
    };
    Object.keys(values).forEach(function (key) {
      var item = box.querySelector('[data-total="' + key + '"]');
      if (!item) return;
      item.querySelector("dd").textContent = values[key];
    });
    box.querySelector('[data-total="late"]').classList.toggle("warn", plan.totals.lateness_s > 0);
    box.querySelector('[data-total="unassigned"]').classList.toggle("warn", plan.totals.unassigned > 0);
  }

  // Every route's and stop's warning in one list above the map, so none goes unseen.
  function renderWarnings() {
    var box = document.getElementById("plan-warnings");
    if (!box) return;
    var items = [];
    plan.routes.forEach(function (route) {
      route.warnings.forEach(function (warning) {
        items.push([route.vehicle_name, warning]);
      });
      if (route.driver === null) items.push([route.vehicle_name, "no driver"]);
      route.stops.forEach(function (stop) {
        stop.warnings.forEach(function (warning) {
          items.push([route.vehicle_name + " · " + stop.reference, warning]);
        });
      });
    });
    box.replaceChildren();
    box.hidden = !items.length;
    if (!items.length) return;
    box.appendChild(el("h2", null, items.length + " warning" + (items.length === 1 ? "" : "s")));
    var list = el("ul");
    var shown = 12;
    items.slice(0, shown).forEach(function (item) {
      var li = el("li");
      li.appendChild(el("b", null, item[0] + ": "));
      li.appendChild(document.createTextNode(item[1]));
      list.appendChild(li);
    });
    if (items.length > shown) list.appendChild(el("li", "muted", interpolate(gettext("and %(count)s more in the lists below"), { count: items.length - shown })));
    box.appendChild(list);
  }

  function warningTag(text) {
    var tag = el("span", "warning", text);
    if (/^late|late at|exceeds|exceed capacity|after the shift|lacks skill|cannot reach|should not serve/.test(text)) {
      tag.classList.add("serious");
    }
    return tag;
  }

  function button(className, text, title) {
    var node = el("button", "button small-button " + className, text);
    node.type = "button";
    if (title) node.title = title;
    return node;
  }

  function renderBoard() {
    var nodes = [el("h2", null, gettext("Routes"))];
    nodes[0].id = "routes-title";
    var hint = el(
      "p",
      "edit-hint muted small",
      gettext("Drag a stop to another place or route, or use Move. Pinned stops and locked routes stay as they are when the plan is optimized again.")
    );
    if (editor.dispatched) hint.textContent += " This plan is dispatched: each change makes a new version for the drivers.";
    nodes.push(hint);
    if (plan.routes.length) nodes.push(routesTable());
    else nodes.push(el("div", "empty", gettext("No routes yet: move an order onto a vehicle below.")));
    nodes.push(el("h3", null, gettext("Stops")));
    var listed = {};
    plan.routes.forEach(function (route) {
      listed[route.vehicle] = true;
      nodes.push(routeStops(route, vehicleById[route.vehicle] || { id: route.vehicle, name: route.vehicle_name, color: "#475569" }));
    });
    vehicles.forEach(function (vehicle) {
      if (!listed[vehicle.id]) nodes.push(routeStops(null, vehicle));
    });
    if (partners.length || (plan.handoffs || []).length) nodes.push(partnerBoard());
    nodes.push(unassignedList());
    content.replaceChildren.apply(content, nodes);
  }

  function routesTable() {
    var wrap = el("div", "table-scroll");
    var table = el("table", "routes");
    var head = el("thead");
    var headRow = el("tr");
    [gettext("Vehicle"), gettext("Driver"), gettext("Stops"), gettext("Distance"), gettext("Driving"), gettext("Cost"), gettext("Start–end"), gettext("Warnings")].forEach(function (label, i) {
      headRow.appendChild(el("th", i >= 2 && i <= 5 ? "num" : null, label));
    });
    head.appendChild(headRow);
    table.appendChild(head);
    var body = el("tbody");
    plan.routes.forEach(function (route) {
      var vehicle = vehicleById[route.vehicle] || {};
      var row = el("tr");
      row.dataset.route = String(route.id);
      row.tabIndex = 0;
      row.title = gettext("Show on the map");
      var name = el("td", "vehicle");
      name.dataset.label = gettext("Vehicle");
      var swatch = el("i", "swatch");
      swatch.style.background = vehicle.color || "#475569";
      name.appendChild(swatch);
      name.appendChild(document.createTextNode(route.vehicle_name));
      if (route.locked) name.appendChild(el("span", "tag tag-lock", "locked"));
      row.appendChild(name);
      [
        [gettext("Driver"), "driver", route.driver_name || "—"],
        [gettext("Stops"), "num", String(route.stops.length)],
        [gettext("Distance"), "num", km(route.distance_m)],
        [gettext("Driving"), "num", duration(route.driving_s)],
        [gettext("Cost"), "num", Number(route.cost).toFixed(2)],
        [gettext("Start–end"), "nowrap", hhmm(route.start) + "–" + hhmm(route.end)],
      ].forEach(function (cell) {
        var td = el("td", cell[1], cell[2]);
        td.dataset.label = cell[0];
        row.appendChild(td);
      });
      var warnings = el("td", "warnings");
      warnings.dataset.label = gettext("Warnings");
      route.warnings.forEach(function (warning) {
        warnings.appendChild(warningTag(warning));
      });
      if (route.driver === null) warnings.appendChild(el("span", "warning", "no driver"));
      if (!route.warnings.length && route.driver !== null) warnings.appendChild(el("span", "muted", "—"));
      row.appendChild(warnings);
      if (route.warnings.length) row.classList.add("has-warnings");
      body.appendChild(row);
    });
    table.appendChild(body);
    wrap.appendChild(table);
    return wrap;
  }

  function routeStops(route, vehicle) {
    var section = el("section", "route-stops");
    section.dataset.vehicle = String(vehicle.id);
    if (route && route.warnings.length) section.classList.add("has-warnings");
    var head = el("div", "route-head");
    var toggle = el("button", "route-toggle");
    toggle.type = "button";
    toggle.dataset.action = "toggle";
    toggle.setAttribute("aria-expanded", open[vehicle.id] ? "true" : "false");
    var swatch = el("i", "swatch");
    swatch.style.background = vehicle.color;
    toggle.appendChild(swatch);
    toggle.appendChild(document.createTextNode(vehicle.name));
    toggle.appendChild(
      el(
        "span",
        "muted",
        route
          ? route.stops.length + " stops, " + hhmm(route.start) + "–" + hhmm(route.end) + ", " + route.load_kg + " kg" +
            ((route.reloads || []).length ? ", " + interpolate(gettext("%(count)s trips"), { count: route.reloads.length + 1 }) : "")
          : "no route: drop an order here"
      )
    );
    head.appendChild(toggle);
    if (route) {
      var lock = button("lock-toggle", route.locked ? gettext("Locked") : gettext("Lock"), route.locked
        ? gettext("Locked: optimizing again keeps these stops on this vehicle. Click to unlock.")
        : gettext("Lock this route: optimizing again keeps its stops on this vehicle"));
      lock.dataset.action = "lock";
      lock.setAttribute("aria-pressed", route.locked ? "true" : "false");
      lock.setAttribute("aria-label", interpolate(route.locked ? gettext("Unlock %(vehicle)s") : gettext("Lock %(vehicle)s"), { vehicle: vehicle.name }));
      head.appendChild(lock);
    }
    section.appendChild(head);
    var list = el("ol", "stops");
    list.dataset.vehicle = String(vehicle.id);
    list.hidden = !open[vehicle.id];
    // A multi-trip route (a cargo bike reloading at a micro-hub) shows its trips: "Trip 1", its
    // stops, the reload at the hub with its times, "Trip 2", ... The reload rows are no stops: a
    // drop counts li.stop rows only.
    var reloads = (route && route.reloads) || [];
    var trips = (route && route.trips) || [];
    if (reloads.length) list.appendChild(tripHeader(trips[0], 1));
    (route ? route.stops : []).forEach(function (stop) {
      list.appendChild(stopItem(stop, vehicle));
      reloads.forEach(function (reload, index) {
        if (reload.after_sequence !== stop.sequence) return;
        list.appendChild(reloadItem(reload));
        list.appendChild(tripHeader(trips[index + 1], index + 2));
      });
    });
    if (!route) list.appendChild(el("li", "drop-empty muted", interpolate(gettext("Drop an order here to start a route for %(vehicle)s"), { vehicle: vehicle.name })));
    section.appendChild(list);
    return section;
  }

  function tripHeader(trip, number) {
    var text = interpolate(gettext("Trip %(number)s"), { number: number });
    if (trip) text += " · " + interpolate(ngettext("%(count)s stop", "%(count)s stops", trip.stops), { count: trip.stops }) + " · " + trip.load_kg + " kg";
    return el("li", "trip-head", text);
  }

  function reloadItem(reload) {
    return el(
      "li",
      "trip-reload",
      interpolate(gettext("Reload at %(hub)s %(from)s–%(to)s"), {
        hub: reload.depot_name || reload.depot_code || "?",
        from: hhmm(reload.arrival),
        to: hhmm(reload.departure),
      })
    );
  }

  function stopItem(stop, vehicle) {
    var known = editor.orders[String(stop.order)] || {};
    var movable = MOVABLE[stop.status];
    var item = el("li", "stop");
    item.dataset.order = String(stop.order);
    if (movable) item.draggable = true;
    if (stop.late_s) item.classList.add("late");
    if (stop.pinned) item.classList.add("pinned");
    if (stop.warnings.length) item.classList.add("has-warnings");
    if (movable) item.appendChild(el("span", "drag-handle", "⠿")).setAttribute("aria-hidden", "true");
    item.appendChild(el("span", "stop-seq", stop.sequence + "."));
    item.appendChild(el("span", "stop-time", hhmm(stop.eta)));
    var ref = item.appendChild(el("a", "stop-ref", stop.reference));
    ref.href = "/orders/" + stop.order + "/";
    ref.draggable = false; // the row is what drags
    var where = [known.customer, known.address].filter(Boolean).join(", ");
    if (where) item.appendChild(el("span", "stop-where", where));
    item.appendChild(el("span", "stop-window muted", "window " + (known.window || "any time")));
    stop.warnings.forEach(function (warning) {
      item.appendChild(warningTag(warning));
    });
    if (!movable) item.appendChild(el("span", "tag tag-muted", stop.status));
    var actions = el("span", "stop-actions");
    var pin = button("pin-toggle", stop.pinned ? "Pinned" : gettext("Pin"), stop.pinned
      ? interpolate(gettext("Pinned to %(vehicle)s: optimizing again keeps it there. Click to unpin."), { vehicle: vehicle.name })
      : interpolate(gettext("Pin to %(vehicle)s: optimizing again keeps it on this vehicle"), { vehicle: vehicle.name }));
    pin.dataset.action = "pin";
    pin.setAttribute("aria-pressed", stop.pinned ? "true" : "false");
    pin.setAttribute("aria-label", interpolate(stop.pinned ? gettext("Unpin %(order)s") : gettext("Pin %(order)s"), { order: stop.reference }));
    actions.appendChild(pin);
    if (movable) {
      var move = button("move-open", gettext("Move…"), gettext("Move to another route or position"));
      move.dataset.action = "move-open";
      move.setAttribute("aria-label", interpolate(gettext("Move %(order)s"), { order: stop.reference }));
      actions.appendChild(move);
      var out = button("unassign", gettext("Unassign"), gettext("Take it out of the routes (not planned)"));
      out.dataset.action = "unassign";
      out.setAttribute("aria-label", interpolate(gettext("Unassign %(order)s"), { order: stop.reference }));
      actions.appendChild(out);
      if (partnersFor(stop.order).length) actions.appendChild(partnerButton(stop.reference));
    }
    item.appendChild(actions);
    return item;
  }

  function unassignedList() {
    var section = el("section", "unassigned-board");
    section.dataset.vehicle = "";
    var title = el("h2", null, gettext("Not planned") + " ");
    title.id = "unassigned-title";
    title.appendChild(el("span", "muted", String(plan.unassigned.length)));
    section.appendChild(title);
    if (!plan.unassigned.length) {
      section.appendChild(el("p", "drop-empty muted", gettext("Every order is planned. Drop a stop here to take it out of the routes.")));
      return section;
    }
    var wrap = el("div", "table-scroll");
    var table = el("table", "unassigned");
    table.setAttribute("aria-labelledby", "unassigned-title");
    var head = el("thead");
    var headRow = el("tr");
    [gettext("Order"), gettext("Customer"), gettext("Reason"), ""].forEach(function (label) {
      headRow.appendChild(el("th", null, label));
    });
    head.appendChild(headRow);
    table.appendChild(head);
    var body = el("tbody");
    plan.unassigned.forEach(function (item) {
      var known = editor.orders[String(item.order)] || {};
      var row = el("tr");
      row.dataset.order = String(item.order);
      row.draggable = true;
      [
        [gettext("Order"), "ref", item.reference],
        [gettext("Customer"), null, known.customer || "—"],
        [gettext("Reason"), null, item.reason],
      ].forEach(function (cell) {
        var td = el("td", cell[1], cell[2]);
        td.dataset.label = cell[0];
        row.appendChild(td);
      });
      var actions = el("td", "stop-actions");
      var add = button("move-open", gettext("Add to route…"), gettext("Put it on a vehicle's route"));
      add.dataset.action = "move-open";
      add.setAttribute("aria-label", interpolate(gettext("Add %(order)s to a route"), { order: item.reference }));
      actions.appendChild(add);
      if (partnersFor(item.order).length) actions.appendChild(partnerButton(item.reference));
      row.appendChild(actions);
      body.appendChild(row);
    });
    table.appendChild(body);
    wrap.appendChild(table);
    section.appendChild(wrap);
    return section;
  }

  function partnerButton(reference) {
    var node = button("partner-open", gettext("To partner…"), gettext("Hand it to a courier partner of the day"));
    node.dataset.action = "partner-open";
    node.setAttribute("aria-label", interpolate(gettext("Hand %(order)s to a courier partner"), { order: reference }));
    return node;
  }

  // Each partner's box: the orders the plan gives it, their cost, and a way back. The day's partners
  // without orders get an empty box too, to drop a stop on.
  function partnerBoard() {
    var section = el("section", "partner-board");
    var title = el("h2", null, gettext("Courier partners"));
    title.id = "partners-title";
    section.appendChild(title);
    var mob = plan.make_or_buy;
    if (mob) {
      section.appendChild(el("p", "make-or-buy muted", interpolate(
        gettext("Own fleet only: cost %(own_cost)s, %(own_served)s orders served. With partners: cost %(cost)s, %(served)s orders served."),
        { own_cost: mob.own_fleet.cost, own_served: mob.own_fleet.served, cost: mob.with_partners.cost, served: mob.with_partners.served }
      )));
    }
    var groups = {};
    var codes = [];
    var bought = 0;
    (plan.handoffs || []).forEach(function (group) {
      groups[group.partner] = group;
      codes.push(group.partner);
      bought += Number(group.cost);
    });
    partners.forEach(function (partner) {
      if (!groups[partner.code]) codes.push(partner.code);
    });
    if ((plan.handoffs || []).length) {
      section.appendChild(el("p", "partner-cost", interpolate(
        gettext("To partners: %(cost)s; with our routes: %(total)s."),
        { cost: bought.toFixed(2), total: (bought + Number(plan.totals.cost)).toFixed(2) }
      )));
    }
    codes.forEach(function (code) {
      section.appendChild(partnerBox(code, groups[code]));
    });
    if ((plan.handoffs || []).length && !editor.dispatched) {
      section.appendChild(el("p", "muted small", gettext("They are handed to the partners when the plan is dispatched.")));
    }
    return section;
  }

  function partnerBox(code, group) {
    var name = partnerName[code] || code;
    var box = el("section", "partner-box");
    box.dataset.partner = code;
    box.setAttribute("aria-label", name);
    var head = el("div", "route-head");
    head.appendChild(el("strong", null, name));
    var orders = group ? group.orders : [];
    head.appendChild(el("span", "muted", group
      ? interpolate(ngettext("%(count)s order, cost %(cost)s", "%(count)s orders, cost %(cost)s", orders.length), { count: orders.length, cost: Number(group.cost).toFixed(2) })
      : gettext("no orders")));
    box.appendChild(head);
    var list = el("ol", "stops partner-orders");
    orders.forEach(function (orderId) {
      var known = editor.orders[String(orderId)] || {};
      var reference = referenceOf(orderId);
      var item = el("li", "stop");
      item.dataset.order = String(orderId);
      item.draggable = true;
      item.appendChild(el("span", "drag-handle", "⠿")).setAttribute("aria-hidden", "true");
      var ref = item.appendChild(el("a", "stop-ref", reference));
      ref.href = "/orders/" + orderId + "/";
      ref.draggable = false;
      var where = [known.customer, known.address].filter(Boolean).join(", ");
      if (where) item.appendChild(el("span", "stop-where", where));
      if (known.window) item.appendChild(el("span", "stop-window muted", known.window));
      var actions = el("span", "stop-actions");
      var back = button("partner-move-open", gettext("Move…"), gettext("Back to one of our routes, or to another partner"));
      back.dataset.action = "partner-move-open";
      back.setAttribute("aria-label", interpolate(gettext("Move %(order)s from %(partner)s"), { order: reference, partner: name }));
      actions.appendChild(back);
      item.appendChild(actions);
      list.appendChild(item);
    });
    if (!orders.length) list.appendChild(el("li", "drop-empty muted", interpolate(gettext("Drop a stop here to hand it to %(partner)s"), { partner: name })));
    box.appendChild(list);
    return box;
  }

  // The keyboard way to a partner, or from one: pick where it goes, then confirm.
  function togglePartnerForm(holder, orderId, kind) {
    var existing = holder.querySelector(".move-form");
    if (existing) {
      existing.remove();
      if (existing.dataset.kind === kind) return;
    }
    var form = el("form", "move-form partner-form");
    form.dataset.kind = kind;
    var label = el("label", null, (kind === "to-partner" ? gettext("Partner") : gettext("Move to")) + " ");
    var select = el("select");
    select.name = "target";
    var choices = partnersFor(orderId);
    if (kind === "from-partner") {
      var ours = el("optgroup");
      ours.label = gettext("Our routes");
      vehicles.forEach(function (vehicle) {
        var option = el("option", null, vehicle.name + (routeOf(vehicle.id) ? "" : " " + gettext("(no route yet)")));
        option.value = "vehicle:" + vehicle.id;
        ours.appendChild(option);
      });
      select.appendChild(ours);
    }
    if (choices.length) {
      var others = el("optgroup");
      others.label = kind === "to-partner" ? gettext("Courier partners") : gettext("Other partners");
      choices.forEach(function (choice) {
        var option = el("option", null, interpolate(gettext("%(partner)s (%(price)s)"), { partner: partnerName[choice.code] || choice.code, price: choice.price }));
        option.value = "partner:" + choice.code;
        others.appendChild(option);
      });
      select.appendChild(others);
    }
    if (kind === "from-partner") {
      var out = el("option", null, gettext("Not planned"));
      out.value = "unassign";
      select.appendChild(out);
    }
    label.appendChild(select);
    var submit = button("primary", kind === "to-partner" ? gettext("Hand over") : gettext("Move"));
    submit.type = "submit";
    var cancel = button("", gettext("Cancel"));
    cancel.dataset.action = "move-cancel";
    [label, submit, cancel].forEach(function (node) {
      form.appendChild(node);
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var target = select.value;
      if (target.indexOf("partner:") === 0) handToPartner(orderId, target.slice(8));
      else if (target.indexOf("vehicle:") === 0) move(orderId, Number(target.slice(8)), "best");
      else move(orderId, null);
    });
    var spot = holder.tagName === "TR" ? holder.querySelector(".stop-actions") : holder;
    spot.appendChild(form);
    select.focus();
  }

  // The map's data in the shape dispatch/maps/drawing.py gives it (add_routes, add_unassigned).
  function renderMap() {
    var map = frameMap(document.querySelector(".map-frame"));
    if (!map) return;
    var routes = plan.routes.map(function (route) {
      var vehicle = vehicleById[route.vehicle] || {};
      return {
        id: route.id,
        vehicle_id: route.vehicle,
        vehicle: route.vehicle_name,
        driver: route.driver_name || "",
        color: vehicle.color || "#475569",
        geometry: route.geometry || null,
        flight: route.vehicle_kind === "drone", // straight flights, drawn dashed
        stops: route.stops.map(function (stop) {
          var known = editor.orders[String(stop.order)] || {};
          return {
            order: stop.order, sequence: stop.sequence, reference: stop.reference, customer: known.customer,
            address: known.address, window: known.window, eta: hhmm(stop.eta), etd: hhmm(stop.etd),
            late_min: Math.round(stop.late_s / 60), lat: stop.lat, lon: stop.lon,
          };
        }),
      };
    });
    var unassigned = plan.unassigned.map(function (item) {
      var known = editor.orders[String(item.order)] || {};
      return {
        order: item.order, reference: item.reference, customer: known.customer, address: known.address,
        window: known.window, reason: item.reason, color: "#dc2626", lat: known.lat, lon: known.lon,
      };
    }).filter(function (item) {
      return item.lat !== undefined;
    });
    var legend = routes.map(function (route) {
      return { label: route.vehicle, color: route.color };
    });
    if (unassigned.length) legend.push({ label: gettext("Not planned"), color: "#dc2626" });
    map.redrawPlan(routes, unassigned, legend);
  }

  // --- Changing the plan ---

  function say(text) {
    status.textContent = text;
  }

  function warningSummary(vehicleIds) {
    var said = [];
    plan.routes.forEach(function (route) {
      if (vehicleIds.indexOf(route.vehicle) < 0) return;
      route.warnings.forEach(function (warning) {
        said.push(route.vehicle_name + ": " + warning);
      });
    });
    return said.length ? " Warnings — " + said.join("; ") + "." : " No warnings on the routes changed.";
  }

  function edit(operations, description, touched) {
    if (saving) return;
    if (editor.dispatched && !window.confirm(
      gettext("This plan is dispatched. The change makes a new version that goes to the drivers at once. Go ahead?")
    )) return;
    saving = true;
    errors.hidden = true;
    board.setAttribute("aria-busy", "true");
    board.classList.add("is-saving");
    say(interpolate(gettext("Saving: %(change)s…"), { change: description }));
    api("POST", editor.urls.edit, { operations: operations, reason: description.slice(0, 255) })
      .then(
        function (answer) {
          if (answer.id !== plan.id) {
            // A dispatched plan never changes: the edit made a new version. Show that one.
            try {
              window.sessionStorage.setItem(
                NOTICE_KEY,
                JSON.stringify({ plan: answer.id, text: "Version " + answer.version + " replaces version " + plan.version +
                  " (" + description + "); the drivers have it now." })
              );
            } catch (ignored) {
              // Private browsing without storage: the page still says "replaces the previous version".
            }
            window.location.assign(editor.urls.detail.replace("/0/", "/" + encodeURIComponent(answer.id) + "/"));
            return;
          }
          plan = answer;
          touched.forEach(function (vehicleId) {
            if (vehicleId !== null) open[vehicleId] = true;
          });
          render(true);
          say(description.charAt(0).toUpperCase() + description.slice(1) + "." + warningSummary(touched));
        },
        function (error) {
          say("");
          showErrors(errors, error);
        }
      )
      .finally(function () {
        saving = false;
        board.setAttribute("aria-busy", "false");
        board.classList.remove("is-saving");
      });
  }

  function move(orderId, vehicleId, position) {
    var from = findStop(orderId);
    var fromVehicle = from ? from.route.vehicle : null;
    if (vehicleId === null) {
      if (!from && !partnerOf(orderId)) return;
      edit([{ op: "unassign", order: orderId }], interpolate(gettext("took %(order)s out of the routes"), { order: referenceOf(orderId) }), [fromVehicle]);
      return;
    }
    if (position === "best") position = bestPosition(vehicleId, orderId);
    if (from && fromVehicle === vehicleId && from.stop.sequence === position) return; // dropped where it was
    var name = (vehicleById[vehicleId] || {}).name || "vehicle " + vehicleId;
    edit(
      [{ op: "move", order: orderId, vehicle: vehicleId, position: position }],
      interpolate(gettext("moved %(order)s to %(vehicle)s, stop %(position)s"), { order: referenceOf(orderId), vehicle: name, position: position }),
      [fromVehicle, vehicleId]
    );
  }

  function handToPartner(orderId, code) {
    if (partnerOf(orderId) === code) return; // dropped where it was
    var from = findStop(orderId);
    edit(
      [{ op: "move", order: orderId, partner: code }],
      interpolate(gettext("handed %(order)s to %(partner)s"), { order: referenceOf(orderId), partner: partnerName[code] || code }),
      [from ? from.route.vehicle : null]
    );
  }

  function onClick(event) {
    var target = event.target.closest("[data-action]");
    if (!target || !board.contains(target)) return;
    var action = target.dataset.action;
    var section = target.closest("[data-vehicle]");
    var vehicleId = section && section.dataset.vehicle ? Number(section.dataset.vehicle) : null;
    var holder = target.closest("[data-order]");
    var orderId = holder ? Number(holder.dataset.order) : null;
    if (action === "toggle") {
      open[vehicleId] = !open[vehicleId];
      target.setAttribute("aria-expanded", open[vehicleId] ? "true" : "false");
      section.querySelector("ol.stops").hidden = !open[vehicleId];
    } else if (action === "lock") {
      var route = routeOf(vehicleId);
      edit(
        [{ op: "lock", vehicle: vehicleId, locked: !route.locked }],
        (route.locked ? "unlocked " : "locked ") + route.vehicle_name,
        [vehicleId]
      );
    } else if (action === "pin") {
      var found = findStop(orderId);
      edit(
        [{ op: "pin", order: orderId, pinned: !found.stop.pinned }],
        interpolate(found.stop.pinned ? gettext("unpinned %(order)s to %(vehicle)s") : gettext("pinned %(order)s to %(vehicle)s"), { order: found.stop.reference, vehicle: found.route.vehicle_name }),
        [found.route.vehicle]
      );
    } else if (action === "unassign") {
      move(orderId, null);
    } else if (action === "move-open") {
      toggleMoveForm(holder, orderId);
    } else if (action === "partner-open") {
      togglePartnerForm(holder, orderId, "to-partner");
    } else if (action === "partner-move-open") {
      togglePartnerForm(holder, orderId, "from-partner");
    } else if (action === "move-cancel") {
      closeMoveForm(holder);
    }
  }

  // The keyboard and phone way: pick a vehicle and a position, then Move.
  function toggleMoveForm(holder, orderId) {
    if (closeMoveForm(holder)) return;
    var from = findStop(orderId);
    var form = el("form", "move-form");
    var vehicleLabel = el("label", null, gettext("Vehicle") + " ");
    var vehicleSelect = el("select");
    vehicleSelect.name = "vehicle";
    vehicles.forEach(function (vehicle) {
      var option = el("option", null, vehicle.name + (routeOf(vehicle.id) ? "" : " (no route yet)"));
      option.value = String(vehicle.id);
      if (from && from.route.vehicle === vehicle.id) option.selected = true;
      vehicleSelect.appendChild(option);
    });
    vehicleLabel.appendChild(vehicleSelect);
    var positionLabel = el("label", null, gettext("Position") + " ");
    var positionSelect = el("select");
    positionSelect.name = "position";
    positionLabel.appendChild(positionSelect);

    function positions() {
      var vehicleId = Number(vehicleSelect.value);
      var route = routeOf(vehicleId);
      var others = route
        ? route.stops.filter(function (stop) {
            return stop.order !== orderId;
          })
        : [];
      positionSelect.replaceChildren();
      var best = el("option", null, "where it fits best");
      best.value = "best";
      positionSelect.appendChild(best);
      for (var i = 1; i <= others.length + 1; i += 1) {
        var label = i + (i <= others.length ? " (before " + others[i - 1].reference + ")" : " (last)");
        var option = el("option", null, label);
        option.value = String(i);
        if (from && from.route.vehicle === vehicleId && from.stop.sequence === i) option.selected = true;
        positionSelect.appendChild(option);
      }
    }

    positions();
    vehicleSelect.addEventListener("change", positions);
    var submit = button("primary", gettext("Move"));
    submit.type = "submit";
    var cancel = button("", gettext("Cancel"));
    cancel.dataset.action = "move-cancel";
    [vehicleLabel, positionLabel, submit, cancel].forEach(function (node) {
      form.appendChild(node);
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var position = positionSelect.value === "best" ? "best" : Number(positionSelect.value);
      move(orderId, Number(vehicleSelect.value), position);
    });
    var place = holder.tagName === "TR" ? holder.querySelector(".stop-actions") : holder;
    place.appendChild(form);
    vehicleSelect.focus();
  }

  function closeMoveForm(holder) {
    var form = holder && holder.querySelector(".move-form");
    if (!form) return false;
    form.remove();
    return true;
  }

  // --- Drag and drop ---

  function onDragStart(event) {
    var item = event.target.closest && event.target.closest("[data-order][draggable=true]");
    if (!item || saving) return;
    var from = findStop(Number(item.dataset.order));
    dragged = { order: Number(item.dataset.order), vehicle: from ? from.route.vehicle : null, item: item };
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", item.dataset.order);
    item.classList.add("dragging");
    board.classList.add("is-dragging");
  }

  function dropTarget(event) {
    var zone = event.target.closest && event.target.closest(".route-stops, .unassigned-board, .partner-box");
    return zone && board.contains(zone) ? zone : null;
  }

  // Where in a shown list the pointer is: the stop it would go before (null: at the end).
  function dropBefore(zone, y) {
    var list = zone.querySelector("ol.stops");
    if (!list || list.hidden) return undefined;
    var items = Array.prototype.slice.call(list.querySelectorAll("li.stop")).filter(function (li) {
      return !dragged || li !== dragged.item;
    });
    for (var i = 0; i < items.length; i += 1) {
      var box = items[i].getBoundingClientRect();
      if (y < box.top + box.height / 2) return { item: items[i], position: i + 1 };
    }
    return { item: null, position: items.length + 1 };
  }

  function clearMarks() {
    board.querySelectorAll(".drop-here, .drop-before, .drop-end").forEach(function (node) {
      node.classList.remove("drop-here", "drop-before", "drop-end");
    });
  }

  function onDragOver(event) {
    if (!dragged) return;
    var zone = dropTarget(event);
    if (!zone) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    clearMarks();
    zone.classList.add("drop-here");
    var spot = zone.classList.contains("route-stops") ? dropBefore(zone, event.clientY) : undefined;
    if (spot && spot.item) spot.item.classList.add("drop-before");
    else if (spot) zone.querySelector("ol.stops").classList.add("drop-end");
  }

  function onDragLeave(event) {
    var zone = dropTarget(event);
    if (zone && !zone.contains(event.relatedTarget)) zone.classList.remove("drop-here");
  }

  function onDrop(event) {
    if (!dragged) return;
    var zone = dropTarget(event);
    if (!zone) return;
    event.preventDefault();
    var order = dragged.order;
    if (zone.dataset.partner) {
      clearDrag();
      handToPartner(order, zone.dataset.partner);
      return;
    }
    var vehicleId = zone.dataset.vehicle ? Number(zone.dataset.vehicle) : null;
    // A collapsed list: the order goes where it adds the least detour.
    var spot = vehicleId === null ? undefined : dropBefore(zone, event.clientY);
    clearDrag();
    if (vehicleId === null && findStop(order) === null && !partnerOf(order)) return; // an unassigned order dropped back
    move(order, vehicleId, spot ? spot.position : "best");
  }

  function clearDrag() {
    clearMarks();
    if (dragged && dragged.item) dragged.item.classList.remove("dragging");
    board.classList.remove("is-dragging");
    dragged = null;
  }

  // --- The map's "Move to route…" ---

  function onMapMessage(event) {
    var frame = document.querySelector(".map-frame");
    if (!frame || event.source !== frame.contentWindow) return;
    var data = event.data || {};
    if (data.type !== "dispatch:plan-move" || typeof data.order !== "number") return;
    move(data.order, typeof data.vehicle === "number" ? data.vehicle : null, "best");
  }

  function showNotice() {
    var box = document.getElementById("plan-notice");
    var notice = null;
    try {
      notice = JSON.parse(window.sessionStorage.getItem(NOTICE_KEY) || "null");
    } catch (ignored) {
      notice = null;
    }
    if (!box || !notice || notice.plan !== plan.id) return;
    window.sessionStorage.removeItem(NOTICE_KEY);
    box.textContent = notice.text;
    box.hidden = false;
  }
}
