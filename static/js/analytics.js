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

/* The learned speed map (analytics/maps.py speed_ratio_map_html): road stretches coloured by learned ÷
 * default speed. data: {bands: [{label, color}], lines: [[band, ratio, road_class, [[lon, lat], ...]]]} */
DispatchMap.speedRatio = function (map, data) {
  var group = L.featureGroup();
  data.lines.forEach(function (line) {
    var band = data.bands[line[0]];
    L.polyline(
      line[3].map(function (p) { return [p[1], p[0]]; }),
      { color: band.color, weight: 4, opacity: 0.9 }
    )
      .bindPopup(function () {
        return popup(gettext("Learned speed"), [
          [gettext("Learned ÷ default speed"), Math.round(line[1] * 100) + " %", band.color],
          [gettext("Road class"), line[2]],
        ]);
      })
      .addTo(group);
  });
  layers.speedRatio = group;
  return group.addTo(map);
};
