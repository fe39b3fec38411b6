/* "Choose another time" on the customer's tracking page (customers.tracking.self_service): the next
   days' free windows from /api/track/<token>/slots/, the choice sent to /api/track/<token>/reschedule/.
   Self-contained (no other script of the page needed); every request goes to this site. */
(function () {
  "use strict";
  var form = document.getElementById("slot-picker");
  if (!form) return;
  var days = document.getElementById("slot-days");
  var status = form.querySelector(".form-status");
  var button = document.getElementById("slot-submit");
  var lang = form.dataset.lang || "en";

  // A date as the customer reads it ("Dienstag, 12.05." / "Tuesday 12 May"); YYYY-MM-DD is a calendar
  // day, not a moment, so it is read and written in UTC and never shifts with the phone's zone.
  var dayFormat = null;
  try {
    dayFormat = new Intl.DateTimeFormat(lang === "de" ? "de-CH" : "en-GB",
      { weekday: "long", day: "numeric", month: lang === "de" ? "2-digit" : "long", timeZone: "UTC" });
  } catch (e) { dayFormat = null; }
  function dayLabel(iso) {
    return dayFormat ? dayFormat.format(new Date(iso + "T00:00:00Z")) : iso;
  }

  function say(text) { status.textContent = text; }

  function render(data) {
    while (days.firstChild) days.removeChild(days.firstChild);
    var offered = (data.days || []).filter(function (day) {
      return day.slots.some(function (slot) { return slot.available; });
    });
    if (!data.allowed || !offered.length) {
      var none = document.createElement("p");
      none.className = "hint";
      none.textContent = form.dataset.noSlots;
      days.appendChild(none);
      button.hidden = true;
      return;
    }
    button.hidden = false;
    offered.forEach(function (day) {
      var fieldset = document.createElement("fieldset");
      fieldset.className = "slot-day";
      var legend = document.createElement("legend");
      legend.textContent = dayLabel(day.date);
      fieldset.appendChild(legend);
      day.slots.forEach(function (slot) {
        if (!slot.available) return;
        var label = document.createElement("label");
        label.className = "slot" + (slot.green ? " green" : "");
        var input = document.createElement("input");
        input.type = "radio";
        input.name = "slot";
        input.value = day.date + "|" + slot.start + "|" + slot.end;
        label.appendChild(input);
        label.appendChild(document.createTextNode(" " + slot.start + "–" + slot.end));
        if (slot.green) {
          var badge = document.createElement("span");
          badge.className = "badge-green";
          badge.textContent = form.dataset.green;
          label.appendChild(document.createTextNode(" "));
          label.appendChild(badge);
        }
        fieldset.appendChild(label);
      });
      days.appendChild(fieldset);
    });
  }

  function load() {
    fetch(form.dataset.slotsUrl, { credentials: "omit", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(render)
      .catch(function () { say(form.dataset.error); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var chosen = form.querySelector("input[name=slot]:checked");
    if (!chosen) { say(form.dataset.pickOne); return; }
    var parts = chosen.value.split("|");
    button.disabled = true;
    say("");
    fetch(form.dataset.rescheduleUrl, {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ date: parts[0], start: parts[1], end: parts[2] })
    }).then(function (r) {
      button.disabled = false;
      if (r.ok) {
        say(form.dataset.moved.replace("{day}", dayLabel(parts[0])).replace("{start}", parts[1]).replace("{end}", parts[2]));
        form.dataset.done = "1";
        // The page shows the new day and window once it is loaded again.
        window.setTimeout(function () { window.location.reload(); }, 4000);
      } else if (r.status === 409) {
        say(form.dataset.taken);
        load();
      } else {
        say(form.dataset.error);
      }
    }).catch(function () { button.disabled = false; say(form.dataset.error); });
  });

  load();
})();
