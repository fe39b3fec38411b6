/* Today page: a click on an order's row (or Enter on it) shows that order on the map. */

import { showRowsOnMap } from "./lib/map_frame.js";

var frame = document.querySelector(".map-frame");
var table = document.querySelector("table.orders");
// On a phone the map is above the list: it is brought into view.
if (frame && table) {
  showRowsOnMap(frame, table, "tr[data-order]", "(max-width: 1200px)", function (map, row) {
    return map.showOrder(row.dataset.order);
  });
}
