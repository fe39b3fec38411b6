/* Analytics: the lateness layer of the delivery map (loaded inside the map's frame, after
 * maps.js). Texts go in through textContent (DispatchMap.popup), never innerHTML.
 *
 * data: {bands: [{label, color}], points: [[lat, lon, band, late_min, date, reference, address, reason]]}
 * (analytics/maps.py writes it). Popups are built when opened, not for every dot at load. */
(function () {
  "use strict";
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
            ["Day", point[4]],
            ["Result", band.label, band.color],
            ["Late", point[3] === null ? "" : point[3] + " min"],
            ["Reason", point[7]],
            ["Address", point[6]],
          ]);
        })
        .addTo(group);
    });
    window.DispatchMap.layers.lateness = group;
    return group.addTo(map);
  };
})();
