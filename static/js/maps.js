/* The script of every map document (dispatch/maps/drawing.py links it as a module into folium's page, which
 * lives in an iframe srcdoc): the layers of static/js/lib/map_layers.js as the global DispatchMap.
 *
 * folium's set-up code calls DispatchMap.<kind>(map, data) for each layer; dispatch/maps/drawing.py makes
 * that code a module too, so it runs after this one (modules run in document order, once the
 * document is parsed). The page around the frame and the tests reach the layers the same way.
 */

import { DispatchMap } from "./lib/map_layers.js";

window.DispatchMap = DispatchMap;
