/* Today page: a click on an order's row (or Enter on it) shows that order on the map. */
(function () {
  "use strict";
  var frame = document.querySelector(".map-frame");
  var table = document.querySelector("table.orders");
  if (!frame || !table) return;

  function show(row) {
    var win = frame.contentWindow;
    if (!win || !win.DispatchMap) return;
    var previous = table.querySelector("tr.selected");
    if (previous) previous.classList.remove("selected");
    if (win.DispatchMap.showOrder(row.dataset.order)) {
      row.classList.add("selected");
      // On a phone the map is above the list: bring it into view.
      if (window.matchMedia("(max-width: 1200px)").matches) frame.scrollIntoView({ behavior: "smooth", block: "center" });
    }
  }

  table.addEventListener("click", function (event) {
    var row = event.target.closest("tr[data-order]");
    if (row && !event.target.closest("a, button")) show(row);
  });
  table.addEventListener("keydown", function (event) {
    var row = event.target.closest("tr[data-order]");
    if (row && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      show(row);
    }
  });
})();
