/* The base map under every Leaflet map: the region's vector tiles, served by the app (/map/tiles/),
 * drawn by MapLibre GL inside Leaflet (vendor/maplibre-gl-leaflet), so the overlays stay Leaflet's.
 *
 * DispatchBaseMap.add(map, options) with options from dispatch.maps.basemap.base_map_options():
 *   {tiles, glyphs, worker, bounds: [west, south, east, north], minzoom, maxzoom}
 * The style follows the OpenMapTiles schema that scripts/tiles/ builds: land use, woods and parks,
 * water, buildings, roads by class, street names, places and (close in) house numbers, in muted
 * colours so the routes and stops drawn on top stay what the eye finds first.
 *
 * When the base map has drawn, the map's container gets data-base-map="drawn" (the browser tests
 * wait for it); "unsupported" where the browser has no WebGL (the overlays still draw).
 */
(function () {
  "use strict";

  var NAME = ["coalesce", ["get", "name:latin"], ["get", "name"]];
  var REGULAR = ["Noto Sans Regular"];
  var MEDIUM = ["Noto Sans Medium"];
  var ITALIC = ["Noto Sans Italic"];
  var BACKGROUND = "#f2efe9";

  function absolute(path) {
    // A map document in <iframe srcdoc> has the page's base URL; MapLibre wants whole URLs.
    return path.indexOf("://") > 0 ? path : new URL(document.baseURI).origin + path;
  }

  function roadWidth(base) {
    // Widths in pixels at GL zoom 10, 14 and 18 (Leaflet's zoom is one more).
    return ["interpolate", ["exponential", 1.5], ["zoom"], 10, base[0], 14, base[1], 18, base[2]];
  }

  function roads(classes) {
    return ["all", ["==", ["geometry-type"], "LineString"], ["match", ["get", "class"], classes, true, false]];
  }

  // A class of roads as a round-ended line; each class is drawn twice, a wider casing under its fill.
  function roadLine(id, classes, color, widths, minzoom) {
    var layer = {
      id: id, type: "line", source: "region", "source-layer": "transportation",
      filter: roads(classes), layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": color, "line-width": roadWidth(widths) },
    };
    if (minzoom !== undefined) layer.minzoom = minzoom;
    return layer;
  }

  var MAJOR = ["motorway", "trunk", "primary"];
  var MEDIUM_ROADS = ["secondary", "tertiary"];
  var MINOR = ["minor", "service", "unclassified", "residential", "living_street", "raceway"];

  function style(options) {
    return {
      version: 8,
      glyphs: absolute(options.glyphs),
      sources: {
        region: {
          type: "vector",
          tiles: [absolute(options.tiles)],
          bounds: options.bounds,
          minzoom: options.minzoom,
          maxzoom: options.maxzoom,
          attribution: "",
        },
      },
      layers: [
        { id: "background", type: "background", paint: { "background-color": BACKGROUND } },
        {
          id: "landcover-wood", type: "fill", source: "region", "source-layer": "landcover",
          filter: ["match", ["get", "class"], ["wood", "forest"], true, false],
          paint: { "fill-color": "#d6e6c6", "fill-opacity": 0.8 },
        },
        {
          id: "landcover-grass", type: "fill", source: "region", "source-layer": "landcover",
          filter: ["match", ["get", "class"], ["grass", "farmland", "meadow", "wetland"], true, false],
          paint: { "fill-color": "#e6efd8", "fill-opacity": 0.7 },
        },
        {
          id: "landcover-rock", type: "fill", source: "region", "source-layer": "landcover",
          filter: ["match", ["get", "class"], ["rock", "sand", "ice"], true, false],
          paint: { "fill-color": "#ebe8e3", "fill-opacity": 0.8 },
        },
        {
          id: "landuse-residential", type: "fill", source: "region", "source-layer": "landuse",
          filter: ["match", ["get", "class"], ["residential", "suburb", "neighbourhood"], true, false],
          paint: { "fill-color": "#ebe7e0", "fill-opacity": 0.9 },
        },
        {
          id: "landuse-work", type: "fill", source: "region", "source-layer": "landuse",
          filter: ["match", ["get", "class"], ["industrial", "commercial", "retail", "railway"], true, false],
          paint: { "fill-color": "#ece6ea", "fill-opacity": 0.9 },
        },
        {
          id: "park", type: "fill", source: "region", "source-layer": "park",
          paint: { "fill-color": "#d3e8c4", "fill-opacity": 0.7 },
        },
        {
          id: "water", type: "fill", source: "region", "source-layer": "water",
          paint: { "fill-color": "#a9cfe4" },
        },
        {
          id: "waterway", type: "line", source: "region", "source-layer": "waterway",
          paint: {
            "line-color": "#a9cfe4",
            "line-width": roadWidth([
              ["match", ["get", "class"], ["river", "canal"], 1.2, 0.6],
              ["match", ["get", "class"], ["river", "canal"], 3, 1.2],
              ["match", ["get", "class"], ["river", "canal"], 8, 3],
            ]),
          },
        },
        {
          id: "building", type: "fill", source: "region", "source-layer": "building", minzoom: 12.5,
          paint: {
            "fill-color": "#dcd6cf",
            "fill-outline-color": "#c9c1b8",
            "fill-opacity": ["interpolate", ["linear"], ["zoom"], 12.5, 0, 13.5, 1],
          },
        },
        {
          id: "road-path", type: "line", source: "region", "source-layer": "transportation", minzoom: 13,
          filter: roads(["path", "track", "pedestrian", "footway", "cycleway", "bridleway", "steps"]),
          paint: { "line-color": "#c4b8a8", "line-width": roadWidth([0.5, 1, 2]), "line-dasharray": [2, 1.5] },
        },
        {
          id: "road-rail", type: "line", source: "region", "source-layer": "transportation",
          filter: roads(["rail", "transit"]),
          paint: { "line-color": "#b3b0ab", "line-width": roadWidth([0.6, 1.2, 2.5]), "line-dasharray": [3, 2] },
        },
        roadLine("road-minor-casing", MINOR, "#d5cfc6", [0.8, 4, 18], 12),
        roadLine("road-minor", MINOR, "#ffffff", [0.4, 2.8, 15], 12),
        roadLine("road-medium-casing", MEDIUM_ROADS, "#d1c3a4", [1.4, 5.5, 22]),
        roadLine("road-medium", MEDIUM_ROADS, "#fdf6de", [1, 4, 19]),
        roadLine("road-major-casing", MAJOR, "#d9a96a", [2, 7, 26]),
        roadLine("road-major", MAJOR, "#fbdca0", [1.4, 5.5, 23]),
        {
          id: "boundary", type: "line", source: "region", "source-layer": "boundary",
          filter: ["<=", ["to-number", ["get", "admin_level"]], 4],
          paint: { "line-color": "#a39bb8", "line-width": 1.2, "line-dasharray": [4, 2] },
        },
        {
          id: "water-name", type: "symbol", source: "region", "source-layer": "water_name",
          layout: { "text-field": NAME, "text-font": ITALIC, "text-size": 12 },
          paint: { "text-color": "#4a7fa6", "text-halo-color": "rgba(255,255,255,0.8)", "text-halo-width": 1 },
        },
        {
          id: "waterway-name", type: "symbol", source: "region", "source-layer": "waterway", minzoom: 13,
          layout: { "text-field": NAME, "text-font": ITALIC, "text-size": 11, "symbol-placement": "line" },
          paint: { "text-color": "#4a7fa6", "text-halo-color": "rgba(255,255,255,0.8)", "text-halo-width": 1 },
        },
        {
          id: "street-name", type: "symbol", source: "region", "source-layer": "transportation_name", minzoom: 12.5,
          layout: {
            "text-field": NAME,
            "text-font": REGULAR,
            "text-size": ["interpolate", ["linear"], ["zoom"], 13, 10, 17, 13],
            "symbol-placement": "line",
            "text-max-angle": 30,
            "text-padding": 2,
          },
          paint: { "text-color": "#5b5550", "text-halo-color": "#ffffff", "text-halo-width": 1.4 },
        },
        {
          id: "house-number", type: "symbol", source: "region", "source-layer": "housenumber", minzoom: 15.5,
          layout: { "text-field": ["get", "housenumber"], "text-font": REGULAR, "text-size": 10, "text-padding": 1 },
          paint: { "text-color": "#8a817a", "text-halo-color": "#f7f5f1", "text-halo-width": 1 },
        },
        {
          id: "place-small", type: "symbol", source: "region", "source-layer": "place",
          filter: ["match", ["get", "class"], ["suburb", "hamlet", "neighbourhood", "quarter", "isolated_dwelling", "locality"], true, false],
          minzoom: 11,
          layout: { "text-field": NAME, "text-font": REGULAR, "text-size": 11, "text-transform": "uppercase", "text-letter-spacing": 0.08 },
          paint: { "text-color": "#7a716a", "text-halo-color": "rgba(255,255,255,0.85)", "text-halo-width": 1.2 },
        },
        {
          id: "place-town", type: "symbol", source: "region", "source-layer": "place",
          filter: ["match", ["get", "class"], ["city", "town", "village"], true, false],
          layout: {
            "text-field": NAME,
            "text-font": MEDIUM,
            "text-size": ["match", ["get", "class"], "city", 16, "town", 14, 12.5],
          },
          paint: { "text-color": "#3d3935", "text-halo-color": "rgba(255,255,255,0.9)", "text-halo-width": 1.5 },
        },
        {
          id: "place-country", type: "symbol", source: "region", "source-layer": "place", maxzoom: 10,
          filter: ["match", ["get", "class"], ["country", "state"], true, false],
          layout: { "text-field": NAME, "text-font": MEDIUM, "text-size": 13, "text-transform": "uppercase" },
          paint: { "text-color": "#6d6390", "text-halo-color": "rgba(255,255,255,0.9)", "text-halo-width": 1.5 },
        },
      ],
    };
  }

  function webglAvailable() {
    try {
      var canvas = document.createElement("canvas");
      return !!(canvas.getContext("webgl2") || canvas.getContext("webgl"));
    } catch (error) {
      return false;
    }
  }

  // MapLibre's main thread and workers drop each other's messages unless both say they come from
  // location.origin. A map document in <iframe srcdoc> (the folium maps) has the page's origin, yet
  // its location (about:srcdoc) says "null" while the worker's says "http://host": translate the
  // label both ways on that document's workers. The real origins are the same, so this opens nothing.
  function bridgeWorkerOrigin() {
    if (window.location.origin !== "null" || window.Worker.dispatchBridged) return;
    var pageOrigin = new URL(document.baseURI).origin;
    var NativeWorker = window.Worker;
    function BridgedWorker(url, options) {
      var worker = new NativeWorker(url, options);
      var post = worker.postMessage.bind(worker);
      var listen = worker.addEventListener.bind(worker);
      var unlisten = worker.removeEventListener.bind(worker);
      var wrapped = new Map();
      worker.postMessage = function (message, transfer) {
        if (message && message.origin === "null") message.origin = pageOrigin;
        return post(message, transfer);
      };
      worker.addEventListener = function (type, listener, options) {
        if (type !== "message") return listen(type, listener, options);
        var relabel = function (event) {
          if (event.data && event.data.origin === pageOrigin) event.data.origin = "null";
          return listener.call(this, event);
        };
        wrapped.set(listener, relabel);
        return listen(type, relabel, options);
      };
      worker.removeEventListener = function (type, listener, options) {
        return unlisten(type, (type === "message" && wrapped.get(listener)) || listener, options);
      };
      return worker;
    }
    BridgedWorker.dispatchBridged = true;
    window.Worker = BridgedWorker;
  }

  // Base map layers added in this document, for scripts and tests: {layer, gl, drawn}.
  var added = [];

  function add(map, options) {
    var container = map.getContainer();
    if (!options || !window.maplibregl || !L.maplibreGL || !webglAvailable()) {
      container.setAttribute("data-base-map", "unsupported");
      return null;
    }
    // The CSP build of MapLibre: its worker is a file of ours, not a blob: the policy would refuse.
    maplibregl.setWorkerUrl(absolute(options.worker));
    bridgeWorkerOrigin();
    container.style.background = BACKGROUND;
    container.setAttribute("data-base-map", "loading");
    var layer = L.maplibreGL({ style: style(options), interactive: false, attributionControl: false });
    layer.addTo(map);
    var entry = { layer: layer, gl: null, drawn: false, errors: [] };
    added.push(entry);
    // Leaflet adds the layer (and MapLibre's map is made) once the map has a view.
    map.whenReady(function () {
      entry.gl = layer.getMaplibreMap();
      entry.gl.on("idle", function () {
        entry.drawn = true;
        container.setAttribute("data-base-map", "drawn");
      });
      entry.gl.on("error", function (event) {
        entry.errors.push(String((event && event.error && event.error.message) || event));
      });
    });
    return layer;
  }

  window.DispatchBaseMap = { add: add, style: style, added: added, background: BACKGROUND };
})();
