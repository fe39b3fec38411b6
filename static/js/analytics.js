/* Analytics: the lateness layer of the delivery map (a module of the map's frame, linked after
 * maps.js by analytics/maps.py). Texts go in through textContent (popup), never innerHTML.
 *
 * data: {bands: [{label, color}], points: [[lat, lon, band, late_min, date, reference, address, reason]]}
 * (analytics/maps.py writes it). Popups are built when opened, not for every dot at load. */

import { gettext } from "./lib/i18n.js";
import { DispatchMap, layers, popup } from "./lib/map_layers.js";

DispatchMap.lateness = function (map, data) {
  var group = L.featureGroup();
  data.points.forEach(function (point) {
    var band = data.bands[point[2]];
    L.circleMarker([point[0], point[1]], {
      radius: 5, weight: 1, color: "#ffffff", fillColor: band.color, fillOpacity: 0.85,
    })
      .bindPopup(function () {
        return popup(point[5], [
          [gettext("Day"), point[4]],
          [gettext("Result"), band.label, band.color],
          [gettext("Late"), point[3] === null ? "" : point[3] + " min"],
          [gettext("Reason"), point[7]],
          [gettext("Address"), point[6]],
        ]);
      })
      .addTo(group);
  });
  layers.lateness = group;
  return group.addTo(map);
};
