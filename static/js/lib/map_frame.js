/* A page's list whose rows show their item on the map in the page's frame (an iframe srcdoc of
 * dispatch/maps/drawing.py, where static/js/maps.js defines DispatchMap). */

// The frame's DispatchMap; null before the frame has run its modules.
export function frameMap(frame) {
  var win = frame && frame.contentWindow;
  return (win && win.DispatchMap) || null;
}

// A click on a row (`rows`, a selector, inside `root`) or Enter on it calls show(DispatchMap, row).
// When the map found the row's item, the row is marked selected (the one before is not) and, where
// the screen is as narrow as the media query `narrow` (the map above or below the list), the map is
// brought into view. Links and buttons in a row keep their clicks. Delegated from `root`: a table
// drawn again still answers.
export function showRowsOnMap(frame, root, rows, narrow, show) {
  function select(row) {
    var map = frameMap(frame);
    if (!map) return;
    var previous = root.querySelector(rows + ".selected");
    if (previous) previous.classList.remove("selected");
    if (show(map, row)) {
      row.classList.add("selected");
      if (window.matchMedia(narrow).matches) frame.scrollIntoView({ behavior: "smooth", block: "center" });
    }
  }

  root.addEventListener("click", function (event) {
    var row = event.target.closest(rows);
    if (row && !event.target.closest("a, button")) select(row);
  });
  root.addEventListener("keydown", function (event) {
    var row = event.target.closest(rows);
    if (row && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      select(row);
    }
  });
}
