/* Analytics: the lateness layer of the delivery map (loaded inside the map's frame, after
 * maps.js). Texts go in through textContent (DispatchMap.popup), never innerHTML. */
(function () {
  "use strict";
  if (!window.DispatchMap || !window.L) return;

  window.DispatchMap.lateness = function (map, data) {
    var group = L.featureGroup();
    data.forEach(function (point) {
      var rows = [
        ["Day", point.date],
        ["Result", point.label, point.color],
        ["Late", point.late_min === null ? "" : point.late_min + " min"],
        ["Reason", point.reason],
        ["Address", point.address],
      ];
      L.circleMarker([point.lat, point.lon], {
        radius: 5, weight: 1, color: "#ffffff", fillColor: point.color, fillOpacity: 0.85,
      })
        .bindPopup(window.DispatchMap.popup(point.reference, rows))
        .addTo(group);
    });
    window.DispatchMap.layers.lateness = group;
    return group.addTo(map);
  };
})();
