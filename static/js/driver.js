/* The driver's phone app: today's route, the next stop, and the stop actions.
 *
 * - The route comes embedded in the page, then from GET /api/driver/route/ every 20 s (and from the
 *   live socket /ws/driver/ when the server has one): a new plan version shows a banner.
 * - Actions (arrived, delivered, failed) go into a queue kept in IndexedDB, each with its own
 *   Idempotency-Key, and are sent in order; without signal they wait, and are retried with backoff
 *   when the connection returns. The server answers a repeated key with its first answer, so a
 *   retry after a lost answer never records a delivery twice. Each action carries the time of the
 *   tap (`occurred_at`): five deliveries sent together after a dead zone keep their five times.
 * - Positions from navigator.geolocation are buffered (localStorage) and sent in batches to
 *   POST /api/driver/positions/ every few seconds, including what was recorded offline.
 */
(function () {
  "use strict";

  const initial = JSON.parse(document.getElementById("driver-initial").textContent);
  // The texts in the active language (locale/*/djangojs.po), embedded in the page so that they work
  // offline; the msgid (English) when a text has no translation.
  const CATALOG = JSON.parse((document.getElementById("driver-i18n") || {}).textContent || "{}");
  function gettext(text) {
    const found = CATALOG[text];
    return typeof found === "string" && found ? found : text;
  }
  function ngettext(singular, plural, count) {
    const found = CATALOG[singular];
    if (Array.isArray(found)) return found[count === 1 ? 0 : 1];
    return count === 1 ? singular : plural;
  }
  function interpolate(text, values) {
    return text.replace(/%\((\w+)\)s/g, (match, key) => String(values[key]));
  }
  // The route map (static/js/driver_map.js) takes its texts through static/js/lib/i18n.js, which reads
  // the page's gettext: this catalog, so that they work offline too.
  window.gettext = gettext;
  window.ngettext = ngettext;
  const csrfToken = document.querySelector("meta[name=csrf-token]").content;
  const ROUTE_URL = "/api/driver/route/";
  const POSITIONS_URL = "/api/driver/positions/";
  const ROUTE_POLL_MS = 20000;
  const POSITION_FLUSH_MS = 5000;
  const POSITION_MIN_INTERVAL_MS = 4000;
  const POSITION_BUFFER_MAX = 5000;
  const POSITION_BATCH_MAX = 500;
  // The server's Date header counts whole seconds: a phone clock off by less than this is left alone
  // (the server forgives a few minutes), so that two taps a second apart never swap places.
  const CLOCK_CORRECTION_MIN_MS = 30000;
  const OPEN = ["dispatched", "en_route", "arrived"];
  const STATUS_LABEL = {
    new: gettext("New"), planned: gettext("Planned"), dispatched: gettext("To do"), en_route: gettext("On the way"),
    arrived: gettext("Arrived"), delivered: gettext("Delivered"), failed: gettext("Failed"), cancelled: gettext("Cancelled"),
  };
  const ACTION_STATUS = { arrive: "arrived", deliver: "delivered", fail: "failed" };
  const ACTION_LABEL = { arrive: gettext("arrived"), deliver: gettext("delivered"), fail: gettext("failed") };

  // The page may be an old copy from the service worker's cache (opened without signal): the route
  // this phone saw last, if it is newer than the page, is the better guess until the server answers.
  const saved = (function () {
    try {
      return JSON.parse(localStorage.getItem("driver-route") || "null");
    } catch (e) {
      return null;
    }
  })();
  if (saved && saved.driver === initial.driver.id && Date.parse(saved.at) > Date.parse(initial.generated_at)) initial.route = saved.route;

  function saveRoute() {
    const record = { driver: initial.driver.id, at: new Date().toISOString(), route: state.route };
    try {
      localStorage.setItem("driver-route", JSON.stringify(record));
    } catch (e) {
      // storage full: the page still works from memory
    }
  }

  const state = {
    route: initial.route,
    loadedVersion: initial.route ? initial.route.version : null,
    loadedPlan: initial.route ? initial.route.plan : null,
    selectedStopId: null,
    queue: [], // [{seq, key, stopId, action, url, body, label, tappedAt}]
    // How far the server's clock is ahead of this phone's (ms), learnt from the answers' Date header.
    clockOffsetMs: Number(localStorage.getItem("driver-clock-offset")) || 0,
    problems: [],
    sending: false,
    retryDelayMs: 1000,
    retryTimer: null,
  };

  const $ = (id) => document.getElementById(id);

  // --- Small helpers ------------------------------------------------------------------------
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  // 24-hour clock in the company's time zone, as on the dispatcher's screens and in the customers'
  // messages: a phone set to another zone (or left on UTC) must not show the driver other times.
  const CLOCK = new Intl.DateTimeFormat("en-GB", {
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: initial.time_zone || undefined,
  });
  function clock(iso) {
    if (!iso) return "–";
    return CLOCK.format(new Date(iso));
  }

  function windowLabel(stop) {
    if (!stop.window_start && !stop.window_end) return gettext("any time");
    return clock(stop.window_start) + "–" + clock(stop.window_end);
  }

  function headers(extra) {
    return Object.assign({ "X-CSRFToken": csrfToken, Accept: "application/json" }, extra || {});
  }

  // A phone's clock may be minutes off, and the server refuses an action time in the future or before
  // the stop's previous action: times sent are the tap on the phone's clock, moved by the offset.
  function noteServerClock(response) {
    const server = Date.parse(response.headers.get("Date") || "");
    if (Number.isNaN(server)) return;
    const offset = server - Date.now();
    state.clockOffsetMs = Math.abs(offset) < CLOCK_CORRECTION_MIN_MS ? 0 : offset;
    try {
      localStorage.setItem("driver-clock-offset", String(state.clockOffsetMs));
    } catch (e) {
      // storage full: the offset is learnt again from the next answer
    }
  }

  function occurredAt(item) {
    // Items queued by an older version of the app have only createdAt (the same moment).
    const tapped = item.tappedAt || Date.parse(item.createdAt);
    return new Date(tapped + state.clockOffsetMs).toISOString();
  }

  function lastPosition() {
    try {
      return JSON.parse(localStorage.getItem("driver-last-position") || "null");
    } catch (e) {
      return null;
    }
  }

  // --- The offline queue (IndexedDB, localStorage if IndexedDB is unavailable) ---------------
  const store = (function () {
    const LS_KEY = "driver-queue";
    let dbPromise = null;
    function db() {
      if (!("indexedDB" in window)) return Promise.reject(new Error("no IndexedDB"));
      if (!dbPromise) {
        dbPromise = new Promise((resolve, reject) => {
          const request = indexedDB.open("driver-app", 1);
          request.onupgradeneeded = () => request.result.createObjectStore("queue", { keyPath: "seq", autoIncrement: true });
          request.onsuccess = () => resolve(request.result);
          request.onerror = () => reject(request.error);
        });
      }
      return dbPromise;
    }
    function tx(mode, work) {
      return db().then((database) => new Promise((resolve, reject) => {
        const transaction = database.transaction("queue", mode);
        const result = work(transaction.objectStore("queue"));
        transaction.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
        transaction.onerror = () => reject(transaction.error);
      }));
    }
    const fallback = {
      all: () => Promise.resolve(JSON.parse(localStorage.getItem(LS_KEY) || "[]")),
      add(item) {
        const items = JSON.parse(localStorage.getItem(LS_KEY) || "[]");
        item.seq = (items.length ? items[items.length - 1].seq : 0) + 1;
        items.push(item);
        localStorage.setItem(LS_KEY, JSON.stringify(items));
        return Promise.resolve(item.seq);
      },
      remove(seq) {
        const items = JSON.parse(localStorage.getItem(LS_KEY) || "[]").filter((i) => i.seq !== seq);
        localStorage.setItem(LS_KEY, JSON.stringify(items));
        return Promise.resolve();
      },
    };
    const indexed = {
      all: () => tx("readonly", (s) => s.getAll()),
      add: (item) => tx("readwrite", (s) => s.add(item)),
      remove: (seq) => tx("readwrite", (s) => s.delete(seq)),
    };
    let chosen = null;
    function pick() {
      if (!chosen) chosen = db().then(() => indexed, () => fallback);
      return chosen;
    }
    return {
      all: () => pick().then((s) => s.all()),
      add: (item) => pick().then((s) => s.add(item)),
      remove: (seq) => pick().then((s) => s.remove(seq)),
    };
  })();

  // --- Rendering ----------------------------------------------------------------------------
  function effectiveStatus(stop) {
    // What the driver did but the server has not confirmed yet shows as done already.
    let status = stop.status;
    state.queue.forEach((item) => {
      if (item.stopId === stop.id || item.order === stop.order) status = ACTION_STATUS[item.action];
    });
    return status;
  }

  function pendingFor(stop) {
    return state.queue.some((item) => item.stopId === stop.id || item.order === stop.order);
  }

  function nextStop() {
    const stops = state.route ? state.route.stops : [];
    const selected = stops.find((s) => s.id === state.selectedStopId && OPEN.includes(effectiveStatus(s)));
    return selected || stops.find((s) => OPEN.includes(effectiveStatus(s))) || null;
  }

  // Multi-trip routes (a cargo bike from a micro-hub): after the last stop of a trip the driver goes
  // back to the hub to reload; that step sits in the list between the trips, with its times.
  function reloadAfter(sequence) {
    const reloads = (state.route && state.route.reloads) || [];
    return reloads.find((r) => r.after_sequence === sequence) || null;
  }

  function reloadText(reload) {
    return interpolate(gettext("Back to %(hub)s to reload"), { hub: reload.depot_name || reload.depot_code || "" });
  }

  function reloadItem(reload) {
    const item = document.createElement("li");
    const later = state.route.stops.filter((s) => s.sequence > reload.after_sequence);
    // Done once the driver has finished a stop of the next trip.
    const done = later.length > 0 && !OPEN.includes(effectiveStatus(later[0]));
    item.className = "stop stop-reload" + (done ? " stop-done" : "");
    const number = document.createElement("span");
    number.className = "stop-number";
    number.textContent = "↺";
    number.setAttribute("aria-hidden", "true");
    const body = document.createElement("div");
    body.className = "stop-body";
    const name = document.createElement("div");
    name.className = "stop-name";
    name.textContent = reloadText(reload);
    const times = document.createElement("div");
    times.className = "stop-times";
    times.textContent = interpolate(gettext("reload %(from)s–%(to)s"), { from: clock(reload.arrival), to: clock(reload.departure) });
    body.append(name, times);
    item.append(number, body);
    return item;
  }

  function render() {
    const route = state.route;
    $("empty").hidden = !!route;
    $("progress").hidden = !route;
    $("stops-title").hidden = !route;
    const list = $("stops");
    list.textContent = "";
    showView(state.view);
    if (!route) {
      $("next").hidden = true;
      $("done-all").hidden = true;
      $("vehicle").textContent = "";
      return;
    }
    $("vehicle").textContent = route.vehicle_name + " · v" + route.version;
    const done = route.stops.filter((s) => !OPEN.includes(effectiveStatus(s))).length;
    const total = route.stops.length;
    $("progress-count").textContent = interpolate(gettext("%(done)s of %(total)s stops done"), { done: done, total: total });
    $("progress-end").textContent = route.end ? interpolate(gettext("back ≈ %(time)s"), { time: clock(route.end) }) : "";
    $("progress-bar").style.width = total ? Math.round((100 * done) / total) + "%" : "0";

    const next = nextStop();
    route.stops.forEach((stop) => {
      const status = effectiveStatus(stop);
      const item = document.createElement("li");
      item.className = "stop" + (OPEN.includes(status) ? "" : " stop-done") + (next && stop.id === next.id ? " stop-next" : "");
      item.dataset.stopId = stop.id;
      const number = document.createElement("span");
      number.className = "stop-number";
      number.textContent = stop.sequence;
      const body = document.createElement("div");
      body.className = "stop-body";
      const name = document.createElement("div");
      name.className = "stop-name";
      name.textContent = stop.customer_name || stop.reference;
      const where = document.createElement("div");
      where.className = "stop-where";
      where.textContent = stop.address || stop.lat.toFixed(5) + ", " + stop.lon.toFixed(5);
      const times = document.createElement("div");
      times.className = "stop-times";
      times.textContent = gettext("ETA") + " " + clock(stop.live_eta || stop.eta) + " · " + windowLabel(stop);
      body.append(name, where, times);
      const badge = document.createElement("span");
      badge.className = "badge badge-" + status + (pendingFor(stop) ? " badge-pending" : "");
      badge.textContent = STATUS_LABEL[status] + (pendingFor(stop) ? " · " + gettext("not sent") : "");
      item.append(number, body, badge);
      if (OPEN.includes(status)) {
        item.tabIndex = 0;
        item.setAttribute("role", "button");
        item.addEventListener("click", () => selectStop(stop.id));
        item.addEventListener("keydown", (e) => { if (e.key === "Enter") selectStop(stop.id); });
      }
      list.append(item);
      const reload = reloadAfter(stop.sequence);
      if (reload) list.append(reloadItem(reload));
    });

    $("next").hidden = !next;
    $("done-all").hidden = !!next || total === 0;
    if (next) renderNext(next);
    renderMap();
  }

  // --- The route map (static/js/driver_map.js, a module: it registers itself with attachMap) -------
  // "list" or "map" under the next stop, as the driver left it.
  state.view = localStorage.getItem("driver-view") === "map" ? "map" : "list";
  let routeMap = null;

  function showView(view) {
    state.view = view;
    const hasRoute = !!state.route;
    $("stops").hidden = !hasRoute || view !== "list";
    $("route-map-panel").hidden = !hasRoute || view !== "map";
    $("view-list").setAttribute("aria-selected", String(view === "list"));
    $("view-map").setAttribute("aria-selected", String(view === "map"));
  }

  // What the map draws: the route, each stop with the status the driver sees in the list (queued
  // actions included) and whether it is the next one, the phone's position, the signal.
  function renderMap() {
    if (!routeMap || !state.route || state.view !== "map") return;
    const next = nextStop();
    routeMap.draw({
      route: state.route,
      stops: state.route.stops.map((stop) => {
        const status = effectiveStatus(stop);
        return { stop: stop, status: status, label: STATUS_LABEL[status], open: OPEN.includes(status), next: !!next && next.id === stop.id };
      }),
      labels: STATUS_LABEL,
      position: lastPosition(),
      online: navigator.onLine,
    });
  }

  function attachMap(map) {
    routeMap = map;
    renderMap();
  }

  [["view-list", "list"], ["view-map", "map"]].forEach(([id, view]) => {
    $(id).addEventListener("click", () => {
      try {
        localStorage.setItem("driver-view", view);
      } catch (e) {
        // storage full: the choice lasts until the page is opened again
      }
      showView(view);
      renderMap();
    });
  });

  function renderNext(stop) {
    const status = effectiveStatus(stop);
    const first = state.route.stops.find((s) => OPEN.includes(effectiveStatus(s)));
    $("next-label").textContent = (first && first.id === stop.id ? gettext("Next stop") : gettext("Selected stop")) + " · #" + stop.sequence;
    $("next-title").textContent = stop.customer_name || stop.reference;
    $("next-address").textContent = stop.address || "";
    $("next-eta").textContent = clock(stop.live_eta || stop.eta);
    $("next-window").textContent = windowLabel(stop);
    $("next-load").textContent =
      interpolate(ngettext("%(count)s item", "%(count)s items", stop.items), { count: stop.items }) + " · " + stop.weight + " kg";
    $("next-reference").textContent = stop.reference;
    // The first stop of a later trip: the driver reloads at the hub first (unless already on this trip).
    const reload = reloadAfter(stop.sequence - 1);
    const reloadNote = $("next-reload");
    if (reloadNote) {
      reloadNote.hidden = !reload;
      reloadNote.textContent = reload
        ? reloadText(reload) + " · " + interpolate(gettext("reload %(from)s–%(to)s"), { from: clock(reload.arrival), to: clock(reload.departure) })
        : "";
    }
    $("next-skills").hidden = !stop.skills.length;
    $("next-skills").textContent = stop.skills.length ? interpolate(gettext("Needs: %(skills)s"), { skills: stop.skills.join(", ") }) : "";
    $("next-notes").hidden = !stop.notes;
    $("next-notes").textContent = stop.notes || "";
    $("navigate").href = "geo:" + stop.lat + "," + stop.lon + "?q=" + stop.lat + "," + stop.lon;
    $("navigate-web").href =
      "https://www.openstreetmap.org/directions?route=%3B" + stop.lat + "%2C" + stop.lon + "#map=17/" + stop.lat + "/" + stop.lon;
    const call = $("call");
    call.hidden = !stop.phone;
    call.href = stop.phone ? "tel:" + stop.phone.replace(/[^+\d]/g, "") : "#";
    // An arrival still in the queue does not block delivering: the queue sends them in order.
    $("action-arrive").hidden = status === "arrived";
    $("next").dataset.stopId = stop.id;
  }

  function selectStop(stopId) {
    state.selectedStopId = stopId;
    closeSheets();
    render();
    $("next").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function renderQueue() {
    const count = state.queue.length;
    $("pending").hidden = count === 0;
    if (count) {
      const labels = state.queue.map((i) => i.label).join(", ");
      $("pending-text").textContent = interpolate(gettext("%(count)s waiting to send: %(labels)s"), { count: count, labels: labels });
    }
    const problems = $("problems");
    problems.hidden = state.problems.length === 0;
    problems.textContent = state.problems.join(" · ");
    const online = navigator.onLine;
    const pill = $("connection");
    pill.textContent = online ? (count ? gettext("Sending…") : gettext("Online")) : gettext("Offline");
    pill.className = "pill " + (online ? "pill-online" : "pill-offline");
  }

  // --- Stop actions -------------------------------------------------------------------------
  function currentStop() {
    const id = Number($("next").dataset.stopId);
    return state.route && state.route.stops.find((s) => s.id === id);
  }

  function withPosition(body) {
    const position = lastPosition();
    if (position && Date.now() - Date.parse(position.recorded_at) < 5 * 60 * 1000) {
      body.lat = position.lat;
      body.lon = position.lon;
    }
    return body;
  }

  function enqueue(stop, action, body) {
    const item = {
      key: newKey(),
      stopId: stop.id,
      order: stop.order,
      action: action,
      url: "/api/driver/stops/" + stop.id + "/" + action + "/",
      body: withPosition(body),
      label: "#" + stop.sequence + " " + ACTION_LABEL[action],
      tappedAt: Date.now(),
      createdAt: new Date().toISOString(),
    };
    return store.add(item).then((seq) => {
      item.seq = seq;
      state.queue.push(item);
      if (action !== "arrive") state.selectedStopId = null;
      render();
      renderQueue();
      sendQueue();
    });
  }

  function closeSheets() {
    $("deliver-form").hidden = true;
    $("fail-form").hidden = true;
  }

  $("action-arrive").addEventListener("click", () => {
    const stop = currentStop();
    if (stop) enqueue(stop, "arrive", {});
  });

  // The deliver or fail sheet ("deliver", "fail": #deliver-form, #deliver-error, #deliver-for …),
  // empty, for the current stop. `beforeShow` clears what reset() does not; `shown` runs once it is
  // visible (the signature pad measures itself then).
  function openSheet(name, beforeShow, shown) {
    const stop = currentStop();
    if (!stop) return;
    closeSheets();
    const form = $(name + "-form");
    form.reset();
    beforeShow();
    $(name + "-error").hidden = true;
    $(name + "-for").textContent = "#" + stop.sequence + " " + (stop.customer_name || stop.reference);
    form.dataset.stopId = stop.id;
    form.hidden = false;
    shown();
    form.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  $("action-deliver").addEventListener("click", () =>
    openSheet(
      "deliver",
      () => {
        signature.clear();
        $("photo-preview").hidden = true;
      },
      () => signature.resize()
    )
  );

  $("action-fail").addEventListener("click", () => openSheet("fail", () => {}, () => {}));

  document.querySelectorAll("[data-close]").forEach((button) => button.addEventListener("click", closeSheets));

  function stopOfForm(form) {
    const id = Number(form.dataset.stopId);
    return state.route && state.route.stops.find((s) => s.id === id);
  }

  function showError(id, message) {
    const element = $(id);
    element.textContent = message;
    element.hidden = false;
  }

  // A phone photo is several MB; shrink it to at most 1600 px JPEG (a few hundred kB) so that it
  // fits the offline queue and the upload limit, and travels as a data: URL in JSON.
  function shrinkPhoto(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onerror = () => reject(reader.error);
      reader.onload = () => {
        const image = new Image();
        image.onerror = () => reject(new Error("not an image"));
        image.onload = () => {
          const scale = Math.min(1, 1600 / Math.max(image.width, image.height));
          const canvas = document.createElement("canvas");
          canvas.width = Math.round(image.width * scale);
          canvas.height = Math.round(image.height * scale);
          canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
          resolve(canvas.toDataURL("image/jpeg", 0.8));
        };
        image.src = reader.result;
      };
      reader.readAsDataURL(file);
    });
  }

  let photoDataUrl = null;
  $("photo").addEventListener("change", (event) => {
    const file = event.target.files[0];
    photoDataUrl = null;
    $("photo-preview").hidden = true;
    if (!file) return;
    shrinkPhoto(file).then(
      (dataUrl) => {
        photoDataUrl = dataUrl;
        $("photo-preview").src = dataUrl;
        $("photo-preview").hidden = false;
      },
      () => showError("deliver-error", gettext("That file is not a photo."))
    );
  });

  $("deliver-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const stop = stopOfForm(form);
    if (!stop) return;
    const body = {
      recipient_name: $("recipient").value.trim(),
      note: $("deliver-note").value.trim(),
    };
    if (photoDataUrl) body.photo = photoDataUrl;
    if (!signature.isEmpty()) body.signature = signature.toDataURL();
    if (!body.recipient_name && !body.photo && !body.signature) {
      showError("deliver-error", gettext("Enter who received it, take a photo or let them sign."));
      return;
    }
    form.hidden = true;
    photoDataUrl = null;
    enqueue(stop, "deliver", body);
  });

  $("fail-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const stop = stopOfForm(form);
    if (!stop) return;
    const checked = form.querySelector("input[name=reason]:checked");
    const note = $("fail-note").value.trim();
    if (!checked) return showError("fail-error", gettext("Choose a reason."));
    if (checked.value === "other" && !note) return showError("fail-error", gettext("Say what happened."));
    form.hidden = true;
    enqueue(stop, "fail", { reason: checked.value, note: note });
  });

  initial.fail_reasons.forEach((reason) => {
    const label = document.createElement("label");
    label.className = "reason";
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "reason";
    input.value = reason.value;
    label.append(input, document.createTextNode(" " + reason.label));
    $("fail-reasons").append(label);
  });

  // --- Signature pad (pointer events: finger, pen and mouse) ---------------------------------
  const signature = (function () {
    const canvas = $("signature");
    const context = canvas.getContext("2d");
    let drawing = false;
    let strokes = 0;
    let last = null;
    function point(event) {
      const box = canvas.getBoundingClientRect();
      return { x: ((event.clientX - box.left) * canvas.width) / box.width, y: ((event.clientY - box.top) * canvas.height) / box.height };
    }
    function style() {
      context.lineWidth = 3 * (canvas.width / Math.max(canvas.clientWidth, 1));
      context.lineCap = "round";
      context.lineJoin = "round";
      context.strokeStyle = "#111827";
    }
    canvas.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      canvas.setPointerCapture && canvas.setPointerCapture(event.pointerId);
      drawing = true;
      last = point(event);
      style();
      context.beginPath();
      context.arc(last.x, last.y, context.lineWidth / 2, 0, Math.PI * 2);
      context.fillStyle = "#111827";
      context.fill();
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!drawing) return;
      event.preventDefault();
      const next = point(event);
      context.beginPath();
      context.moveTo(last.x, last.y);
      context.lineTo(next.x, next.y);
      context.stroke();
      last = next;
      strokes += 1;
    });
    ["pointerup", "pointercancel", "pointerleave"].forEach((name) => canvas.addEventListener(name, () => { drawing = false; }));
    return {
      clear() {
        context.clearRect(0, 0, canvas.width, canvas.height);
        strokes = 0;
      },
      resize() {
        // Draw at the device's pixel density so the signature is sharp; clearing is fine (the sheet just opened).
        const ratio = window.devicePixelRatio || 1;
        canvas.width = Math.round(canvas.clientWidth * ratio) || 600;
        canvas.height = Math.round(canvas.clientHeight * ratio) || 260;
        strokes = 0;
      },
      isEmpty: () => strokes < 2,
      toDataURL: () => canvas.toDataURL("image/png"),
    };
  })();
  $("signature-clear").addEventListener("click", () => signature.clear());

  // --- Sending the queue --------------------------------------------------------------------
  function scheduleRetry() {
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(sendQueue, state.retryDelayMs);
    state.retryDelayMs = Math.min(state.retryDelayMs * 2, 60000);
  }

  function applyStop(updated) {
    if (!state.route) return;
    state.route.stops = state.route.stops.map((s) => (s.order === updated.order ? Object.assign({}, s, { status: updated.status }) : s));
    saveRoute();
  }

  function finish(item) {
    return store.remove(item.seq).then(() => {
      state.queue = state.queue.filter((i) => i.seq !== item.seq);
    });
  }

  async function sendQueue() {
    if (state.sending || !state.queue.length) return renderQueue();
    if (!navigator.onLine) return renderQueue();
    state.sending = true;
    renderQueue();
    try {
      while (state.queue.length) {
        const item = state.queue[0];
        const offsetUsed = state.clockOffsetMs;
        let response;
        try {
          response = await fetch(item.url, {
            method: "POST",
            credentials: "same-origin",
            headers: headers({ "Content-Type": "application/json", "Idempotency-Key": item.key }),
            body: JSON.stringify(Object.assign({}, item.body, { occurred_at: occurredAt(item) })),
          });
        } catch (networkError) {
          scheduleRetry();
          return;
        }
        noteServerClock(response);
        let refusal = null;
        if (!response.ok && response.status !== 401 && response.status !== 403 && response.status < 500) {
          try {
            refusal = await response.json();
          } catch (e) {
            refusal = { detail: response.statusText, errors: [] };
          }
        }
        const timeRefused = response.status === 400 && refusal && (refusal.errors || []).some((e) => e.field === "occurred_at");
        if (timeRefused && !item.clockRetried && state.clockOffsetMs !== offsetUsed) {
          // Refused for the phone's wrong clock, now learnt from this very answer: send it again, corrected
          // (once: a time refused for another reason is not retried for ever).
          item.clockRetried = true;
          continue;
        }
        if (response.ok) {
          const answer = await response.json();
          applyStop(answer.stop);
          await finish(item);
          state.retryDelayMs = 1000;
        } else if (response.status === 401 || response.status === 403) {
          state.problems = [interpolate(gettext("You are logged out: log in again to send %(action)s"), { action: item.label })];
          return;
        } else if (response.status >= 500 || response.status === 429 || response.status === 408) {
          scheduleRetry();
          return;
        } else {
          // The server refused it for good (already done by the office, not your stop any more, bad photo):
          // drop it from the queue and say so, then carry on with the rest.
          const first = (refusal && refusal.errors && refusal.errors[0]) || null;
          let message = first && first.message ? first.message : (refusal && refusal.detail) || response.statusText;
          if (first && first.field && message.indexOf(first.field) !== 0) message = first.field + " " + message;
          state.problems.push(interpolate(gettext("Not recorded: %(action)s (%(reason)s)"), { action: item.label, reason: message }));
          await finish(item);
        }
        render();
        renderQueue();
      }
      refreshRoute();
    } finally {
      state.sending = false;
      render();
      renderQueue();
    }
  }

  $("pending-retry").addEventListener("click", () => {
    state.retryDelayMs = 1000;
    sendQueue();
  });
  $("problems").addEventListener("click", () => {
    state.problems = [];
    renderQueue();
  });

  // --- Keeping the route current ------------------------------------------------------------
  function showRouteChanged(route) {
    if (!route) $("route-changed-text").textContent = gettext("Your route was withdrawn by the dispatcher.");
    else $("route-changed-text").textContent = interpolate(
      gettext("Your route was updated (version %(version)s): check the order of your stops."), { version: route.version });
    $("route-changed").hidden = false;
  }

  $("route-changed-ok").addEventListener("click", () => {
    $("route-changed").hidden = true;
    state.loadedVersion = state.route ? state.route.version : null;
    state.loadedPlan = state.route ? state.route.plan : null;
  });

  let refreshing = false;
  async function refreshRoute() {
    if (refreshing || !navigator.onLine) return;
    refreshing = true;
    try {
      const response = await fetch(ROUTE_URL, { credentials: "same-origin", headers: headers() });
      if (!response.ok) return;
      const route = (await response.json()).route;
      const plan = route ? route.plan : null;
      if (plan !== state.loadedPlan && (route || state.loadedPlan !== null)) showRouteChanged(route);
      state.route = route;
      saveRoute();
      render();
    } catch (e) {
      // offline: the next poll tries again
    } finally {
      refreshing = false;
    }
  }

  function connectLiveSocket(delayMs) {
    if (!initial.live_socket || !("WebSocket" in window)) return;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + initial.live_socket);
    socket.onmessage = () => refreshRoute();
    socket.onopen = () => { delayMs = 1000; };
    socket.onclose = () => setTimeout(() => connectLiveSocket(Math.min(delayMs * 2, 60000)), delayMs);
  }

  // --- Positions ----------------------------------------------------------------------------
  function positionBuffer() {
    try {
      return JSON.parse(localStorage.getItem("driver-positions") || "[]");
    } catch (e) {
      return [];
    }
  }

  function savePositions(positions) {
    localStorage.setItem("driver-positions", JSON.stringify(positions.slice(-POSITION_BUFFER_MAX)));
  }

  function onPosition(position) {
    const coords = position.coords;
    const entry = {
      lat: coords.latitude,
      lon: coords.longitude,
      recorded_at: new Date(position.timestamp || Date.now()).toISOString(),
      accuracy_m: coords.accuracy,
    };
    if (coords.speed !== null && !Number.isNaN(coords.speed)) entry.speed_mps = coords.speed;
    if (coords.heading !== null && !Number.isNaN(coords.heading)) entry.heading = coords.heading;
    const previous = lastPosition();
    localStorage.setItem("driver-last-position", JSON.stringify(entry));
    if (routeMap && state.view === "map") routeMap.position(entry);
    if (previous && Date.parse(entry.recorded_at) - Date.parse(previous.recorded_at) < POSITION_MIN_INTERVAL_MS) return;
    const buffer = positionBuffer();
    buffer.push(entry);
    savePositions(buffer);
  }

  let flushing = false;
  async function flushPositions() {
    if (flushing || !navigator.onLine) return;
    const batch = positionBuffer().slice(0, POSITION_BATCH_MAX);
    if (!batch.length) return;
    flushing = true;
    try {
      const response = await fetch(POSITIONS_URL, {
        method: "POST",
        credentials: "same-origin",
        headers: headers({ "Content-Type": "application/json" }),
        body: JSON.stringify({ positions: batch }),
      });
      noteServerClock(response);
      // Sent, or refused for good (a 4xx other than auth and rate limits): either way not sent again.
      const drop = response.ok || (response.status >= 400 && response.status < 500 && ![401, 403, 408, 429].includes(response.status));
      if (drop) {
        const sent = new Set(batch.map((p) => p.recorded_at));
        savePositions(positionBuffer().filter((p) => !sent.has(p.recorded_at)));
      }
    } catch (e) {
      // offline: kept for the next flush
    } finally {
      flushing = false;
    }
  }

  if ("geolocation" in navigator) {
    navigator.geolocation.watchPosition(onPosition, () => {}, { enableHighAccuracy: true, maximumAge: 5000, timeout: 30000 });
  }

  // --- Start ---------------------------------------------------------------------------------
  window.addEventListener("online", () => {
    state.retryDelayMs = 1000;
    sendQueue();
    flushPositions();
    refreshRoute();
    renderMap();
  });
  window.addEventListener("offline", () => {
    renderQueue();
    renderMap();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refreshRoute();
  });

  if ("serviceWorker" in navigator && document.body.dataset.serviceWorker) {
    navigator.serviceWorker.register(document.body.dataset.serviceWorker, { scope: document.body.dataset.scope }).catch(() => {});
  }

  render();
  store.all().then((items) => {
    state.queue = items || [];
    render();
    sendQueue();
  }, () => renderQueue());
  setInterval(refreshRoute, ROUTE_POLL_MS);
  setInterval(flushPositions, POSITION_FLUSH_MS);
  connectLiveSocket(1000);

  // For tests and debugging in the browser console.
  window.DriverApp = {
    state: state, sendQueue: sendQueue, refreshRoute: refreshRoute, flushPositions: flushPositions,
    attachMap: attachMap, selectStop: selectStop, routeMap: () => routeMap,
  };
})();
