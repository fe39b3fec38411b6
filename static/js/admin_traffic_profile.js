/* The traffic profile's 24 hours in the admin (routes/admin_widgets.py, templates/admin/widgets/hourly_factors.html).
 *
 * Draws the hourly speed factors as bars (SVG, no library) from the table's inputs and redraws on
 * every keystroke; a value that is not a number from data-min to data-max is outlined in red, in
 * the table and in the chart, before the form is even saved (the server says which hour and why).
 * Clicking a bar focuses its hour's input.
 *
 * Words come from the project's catalog (djangojs.po), which the change form's admin:jsi18n serves.
 */
(function () {
  "use strict";

  function gettext(text) {
    return window.gettext ? window.gettext(text) : text;
  }

  // Django's named placeholders, "%(name)s", filled from `values`.
  function interpolate(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (match, key) { return String(values[key]); });
  }

  var SVG = "http://www.w3.org/2000/svg";
  var WIDTH = 720, HEIGHT = 200, LEFT = 34, RIGHT = 6, TOP = 8, BOTTOM = 22;
  var TOP_VALUE = 1.5;

  function node(name, attributes, text) {
    var element = document.createElementNS(SVG, name);
    Object.keys(attributes || {}).forEach(function (key) {
      element.setAttribute(key, attributes[key]);
    });
    if (text !== undefined) element.textContent = text;
    return element;
  }

  function parse(text, min, max) {
    var trimmed = String(text).trim().replace(",", ".");
    if (!trimmed || !/^[-+]?(\d+\.?\d*|\.\d+)$/.test(trimmed)) return { ok: false, value: null };
    var value = Number(trimmed);
    return { ok: isFinite(value) && value >= min && value <= max, value: isFinite(value) ? value : null };
  }

  function setUp(box) {
    var min = Number(box.dataset.min), max = Number(box.dataset.max);
    var chart = box.querySelector("[data-chart]");
    var inputs = Array.prototype.slice.call(box.querySelectorAll("input[data-hour]"));
    var plotWidth = WIDTH - LEFT - RIGHT, plotHeight = HEIGHT - TOP - BOTTOM;
    var slot = plotWidth / 24;

    function y(value) {
      return TOP + plotHeight * (1 - Math.max(0, Math.min(value, TOP_VALUE)) / TOP_VALUE);
    }

    function draw() {
      chart.replaceChildren();
      [0, 0.5, 1, 1.5].forEach(function (level) {
        chart.appendChild(node("line", {
          x1: LEFT, x2: WIDTH - RIGHT, y1: y(level), y2: y(level), "class": level === 1 ? "grid grid-free" : "grid",
        }));
        chart.appendChild(node("text", { x: LEFT - 4, y: y(level) + 4, "text-anchor": "end", "class": "axis-label" },
          level.toFixed(1)));
      });
      inputs.forEach(function (input, hour) {
        var parsed = parse(input.value, min, max);
        input.classList.toggle("invalid", !parsed.ok);
        input.setAttribute("aria-invalid", parsed.ok ? "false" : "true");
        var x = LEFT + hour * slot + 2;
        var shown = parsed.value === null ? 0 : parsed.value;
        var top = parsed.ok ? y(shown) : TOP;
        var kind = !parsed.ok ? "invalid" : shown < 0.6 ? "very-slow" : shown < 0.85 ? "slow" : "";
        var bar = node("rect", {
          x: x, y: top, width: slot - 4, height: Math.max(y(0) - top, 1), "class": "bar " + kind, "data-hour": hour,
        });
        var label = (hour < 10 ? "0" : "") + hour;
        bar.appendChild(node("title", {}, parsed.ok
          ? interpolate(gettext("%(hour)s h: %(factor)s"), { hour: label, factor: shown })
          : interpolate(gettext("%(hour)s h: “%(value)s” is not a factor from %(min)s to %(max)s"),
            { hour: label, value: input.value, min: min, max: max })));
        bar.addEventListener("click", function () {
          input.focus();
          input.select();
        });
        chart.appendChild(bar);
        if (hour % 3 === 0) {
          chart.appendChild(node("text", { x: x + (slot - 4) / 2, y: HEIGHT - 6, "text-anchor": "middle", "class": "axis-label" },
            (hour < 10 ? "0" : "") + hour));
        }
      });
    }

    inputs.forEach(function (input) {
      input.addEventListener("input", draw);
    });
    draw();
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-hourly-factors]"), setUp);
  });
})();
