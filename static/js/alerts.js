/* The Alerts page (templates/dispatch/alerts.html): select all, select a group, count the selection.
 *
 * The page works without this script (tick the boxes, press Resolve selected: a plain form POST);
 * this adds the select-all and per-group boxes and keeps the count on the button. */

import { gettext } from "./lib/i18n.js";

document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("alert-bulk");
  if (!form) return;
  var all = document.getElementById("select-all");
  var button = document.getElementById("resolve-selected");
  var count = document.getElementById("selected-count");

  function boxes(group) {
    var selector = ".alert-checkbox" + (group ? '[data-group="' + CSS.escape(group) + '"]' : "");
    return Array.prototype.slice.call(form.querySelectorAll(selector));
  }

  function mark(box, list) {
    var ticked = list.filter(function (b) { return b.checked; }).length;
    box.checked = list.length > 0 && ticked === list.length;
    box.indeterminate = ticked > 0 && ticked < list.length;
  }

  function refresh() {
    var list = boxes();
    var ticked = list.filter(function (b) { return b.checked; }).length;
    if (count) count.textContent = ticked;
    if (button) button.disabled = ticked === 0;
    if (all) mark(all, list);
    form.querySelectorAll(".group-checkbox").forEach(function (box) { mark(box, boxes(box.dataset.group)); });
  }

  if (all) {
    all.addEventListener("change", function () {
      boxes().forEach(function (b) { b.checked = all.checked; });
      refresh();
    });
  }
  form.querySelectorAll(".group-checkbox").forEach(function (box) {
    box.addEventListener("change", function () {
      boxes(box.dataset.group).forEach(function (b) { b.checked = box.checked; });
      refresh();
    });
  });
  form.addEventListener("change", function (event) {
    if (event.target.classList.contains("alert-checkbox")) refresh();
  });
  form.addEventListener("submit", function () {
    if (button) {
      button.disabled = true;
      button.textContent = gettext("Resolving…");
    }
  });
  refresh();
});
