"""Maps without tiles draw the road network's main roads (dispatch.maps.drawing), written once per loaded network."""

import re

import folium

from dispatch.maps import drawing as maps
from routes.road_network import road_backdrop_lines


def _without_names(html: str) -> str:
    return re.sub(r"_[0-9a-f]{32}\b", "_NAME", html)  # folium names each element with a random id


def _folium_polyline(fmap) -> None:
    """How the backdrop was drawn before it was written once per network: folium's own PolyLine."""
    folium.PolyLine(
        locations=[[(lat, lon) for lon, lat in line] for line in road_backdrop_lines()],
        color="#b8c0cc", weight=2, opacity=0.9, interactive=False, smooth_factor=1.5,
    ).add_to(fmap)  # fmt: skip


def test_a_map_draws_the_main_roads_as_folium_would(road_network, monkeypatch):
    drawn = maps.render_map(maps.new_map())

    monkeypatch.setattr(maps, "add_road_backdrop", _folium_polyline)
    assert _without_names(drawn) == _without_names(maps.render_map(maps.new_map()))
    assert "L.polyline(" in drawn and len(road_backdrop_lines()) > 100


def test_the_roads_are_written_once_while_the_network_stays_loaded(road_network):
    maps.warm_up()  # what a server process does as it starts (config.warm_up)

    lines = road_backdrop_lines()
    written = maps._backdrop_json(lines)
    assert maps._backdrop_json(road_backdrop_lines()) is written  # not written again
    assert written.startswith("[[[47.") and "9.5" in written  # Leaflet's [lat, lon], in Liechtenstein
