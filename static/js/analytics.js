/* Analytics: the lateness layer of the delivery map (loaded inside the map's frame, after
 * maps.js). Texts go in through textContent (DispatchMap.popup), never innerHTML.
 *
 * data: {bands: [{label, color}], points: [[lat, lon, band, late_min, date, reference, address, reason]]}
 * (analytics/maps.py writes it). Popups are built when opened, not for every dot at load. */
(function () {
  "use strict";

  // Texts in the active language: /jsi18n/ (base.html) defines gettext; the map's frame borrows its
  // page's. Without either, the English msgid.
  var catalog = (function () {
    try {
      if (window.gettext) return window;
      if (window.parent && window.parent !== window && window.parent.gettext) return window.parent;
    } catch (error) { /* a frame of another origin */ }
    return null;
  })();
  function gettext(text) { return catalog ? catalog.gettext(text) : text; }
  function ngettext(singular, plural, count) { return catalog ? catalog.ngettext(singular, plural, count) : count === 1 ? singular : plural; }
  function interpolate(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (match, key) { return String(values[key]); });
  }
  if (!window.DispatchMap || !window.L) return;

  window.DispatchMap.lateness = function (map, data) {
    var group = L.featureGroup();
    data.points.forEach(function (point) {
      var band = data.bands[point[2]];
      L.circleMarker([point[0], point[1]], {
        radius: 5, weight: 1, color: "#ffffff", fillColor: band.color, fillOpacity: 0.85,
      })
        .bindPopup(function () {
          return window.DispatchMap.popup(point[5], [
            [gettext("Day"), point[4]],
            [gettext("Result"), band.label, band.color],
            [gettext("Late"), point[3] === null ? "" : point[3] + " min"],
            [gettext("Reason"), point[7]],
            [gettext("Address"), point[6]],
          ]);
        })
        .addTo(group);
    });
    window.DispatchMap.layers.lateness = group;
    return group.addTo(map);
  };
})();
