"""Maps every page draws: the folium maps over the road network (drawing), the offline vector base map
(basemap) and the tiles it serves (views). Below orders and plans, which draw with it."""
