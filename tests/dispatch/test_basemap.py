"""The base map's tiles: built by tilemaker from the demo extract, served by the app with caching headers."""

import gzip
import json
import shutil

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from dispatch.maps import drawing as maps
from dispatch.maps.basemap import build_map_tiles, prepared_tileset, tile_xy
from dispatch.models import Depot


@pytest.fixture(scope="session")
def built_tiles(tmp_path_factory):
    """The demo region's vector tiles, built once for the session (a few seconds)."""
    assert shutil.which("tilemaker"), "tilemaker is missing: run scripts/install_tilemaker.sh"
    target = tmp_path_factory.mktemp("basemap") / "tiles"
    figures = build_map_tiles(source=django_settings.DEMO_PBF, target=target)
    assert figures["tiles"] > 50, figures
    return target


@pytest.fixture
def tiles(settings, built_tiles):
    settings.MAP_TILES_DIR = built_tiles
    settings.MAP_TILE_URL = ""
    return prepared_tileset()


def _vaduz_tile(z: int) -> tuple[int, int]:
    return tile_xy(47.1410, 9.5215, z)  # Vaduz, Städtle


def test_it_builds_a_pyramid_covering_the_region(tiles):
    west, south, east, north = tiles.bounds
    assert 9.4 < west < east < 9.7 and 47.0 < south < north < 47.3
    assert (tiles.minzoom, tiles.maxzoom) == (0, 14)
    layers = {layer["id"] for layer in json.loads((tiles.directory / "metadata.json").read_text())["vector_layers"]}
    assert {"transportation", "transportation_name", "building", "water", "housenumber", "place"} <= layers


def test_it_serves_a_tile_gzipped_with_caching_headers(client, tiles):
    x, y = _vaduz_tile(14)
    response = client.get(f"/map/tiles/14/{x}/{y}.pbf", HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.mapbox-vector-tile"
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    assert "public" in response["Cache-Control"] and "max-age=86400" in response["Cache-Control"]
    assert response["ETag"] == f'"{tiles.version}-14-{x}-{y}"'
    body = gzip.decompress(response.content)
    assert b"transportation" in body and b"building" in body  # the layers' names travel in the tile


def test_it_decompresses_for_a_client_without_gzip(client, tiles):
    x, y = _vaduz_tile(14)
    response = client.get(f"/map/tiles/14/{x}/{y}.pbf", HTTP_ACCEPT_ENCODING="identity")
    assert response.status_code == 200
    assert "Content-Encoding" not in response
    assert response.content == gzip.decompress((tiles.directory / f"14/{x}/{y}.pbf").read_bytes())


def test_it_answers_a_matching_etag_with_304(client, tiles):
    x, y = _vaduz_tile(12)
    first = client.get(f"/map/tiles/12/{x}/{y}.pbf")
    again = client.get(f"/map/tiles/12/{x}/{y}.pbf", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and not again.content
    assert again["ETag"] == first["ETag"]
    other = client.get(f"/map/tiles/12/{x}/{y}.pbf", HTTP_IF_NONE_MATCH='"an-older-build-12-0-0"')
    assert other.status_code == 200


def test_it_answers_404_outside_the_pyramid(client, tiles):
    x, y = _vaduz_tile(14)
    assert client.get(f"/map/tiles/15/{x * 2}/{y * 2}.pbf").status_code == 404  # deeper than built
    assert client.get("/map/tiles/14/0/0.pbf").status_code == 404  # the other end of the world
    east_x, _ = tile_xy(47.14, tiles.bounds[2], 14)
    assert client.get(f"/map/tiles/14/{east_x + 1}/{y}.pbf").status_code == 404  # just east of the region


def test_it_answers_an_empty_tile_inside_the_region_as_no_content(client, tiles):
    # A tile of the region's bounding box where tilemaker wrote nothing (no feature there).
    west, south, east, north = tiles.bounds
    x_min, y_min = tile_xy(north, west, 14)
    x_max, y_max = tile_xy(south, east, 14)
    empty = next(
        (x, y)
        for x in range(x_min, x_max + 1)
        for y in range(y_min, y_max + 1)
        if not (tiles.directory / f"14/{x}/{y}.pbf").exists()
    )
    response = client.get(f"/map/tiles/14/{empty[0]}/{empty[1]}.pbf")
    assert response.status_code == 204 and not response.content
    assert "max-age" in response["Cache-Control"]


def test_it_answers_404_before_any_tiles_are_built(client, settings, tmp_path):
    settings.MAP_TILES_DIR = tmp_path / "nothing"
    assert client.get("/map/tiles/0/0/0.pbf").status_code == 404


def test_it_refuses_to_write_tiles(client, tiles):
    x, y = _vaduz_tile(14)
    assert client.post(f"/map/tiles/14/{x}/{y}.pbf").status_code == 405


def test_it_serves_the_glyphs_of_the_labels(client, tiles):
    response = client.get("/map/fonts/Noto Sans Regular/0-255.pbf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-protobuf" and len(response.content) > 10_000
    assert "max-age" in response["Cache-Control"] and response["ETag"]
    # A fallback list names the first font we ship; a script we do not ship gets no glyphs, not an error.
    assert client.get("/map/fonts/Open Sans Bold,Noto Sans Medium/256-511.pbf").status_code == 200
    chinese = client.get("/map/fonts/Noto Sans Regular/19968-20223.pbf")
    assert chinese.status_code == 200 and chinese.content == b""
    assert client.get("/map/fonts/Noto Sans Regular/1-256.pbf").status_code == 404
    assert client.get("/map/fonts/Comic Sans/0-255.pbf").status_code == 404


def test_the_build_command_builds_only_when_the_extract_changed(tmp_path, built_tiles, capsys):
    target = tmp_path / "tiles"
    shutil.copytree(built_tiles, target)
    call_command("build_map_tiles", str(django_settings.DEMO_PBF), "--if-missing", "--output", str(target))
    assert "Base map ready" in capsys.readouterr().out
    (target / "build.json").write_text(json.dumps({"source": "/elsewhere/other.osm.pbf"}))
    call_command("build_map_tiles", str(django_settings.DEMO_PBF), "--if-missing", "--output", str(target))
    assert '"tiles":' in capsys.readouterr().out
    assert json.loads((target / "build.json").read_text())["source"] == str(django_settings.DEMO_PBF.resolve())


@pytest.mark.django_db
def test_every_map_document_draws_the_base_map_when_tiles_are_built(tiles):
    depot = Depot.objects.create(code="VDZ", name="Vaduz", lat=47.141, lon=9.5215)
    html = maps.orders_map_html(orders=[], depots=[depot], zones=[])
    assert "DispatchMap.baseMap(" in html and "/map/tiles/{z}/{x}/{y}.pbf?v=" + tiles.version in html
    assert "maplibre-gl-csp.js" in html and "js/basemap.js" in html
    assert "OpenStreetMap" in html


@pytest.mark.django_db
def test_a_company_tile_server_replaces_the_base_map(tiles, settings):
    settings.MAP_TILE_URL = "https://tiles.example.com/{z}/{x}/{y}.png"
    html = maps.orders_map_html(orders=[], depots=[], zones=[])
    assert "tiles.example.com" in html and "DispatchMap.baseMap(" not in html and "maplibre" not in html
