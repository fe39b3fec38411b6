"""The base map under every map: vector tiles of the region, built on this machine and served by the app.

`build_map_tiles` runs tilemaker (Debian's package, scripts/install_tilemaker.sh) over the region's
.osm.pbf with the OpenMapTiles schema (scripts/tiles/: the layer config and Debian's Lua tag
processing), into a directory of gzip-compressed Mapbox Vector Tiles, `MAP_TILES_DIR/<z>/<x>/<y>.pbf`,
with tilemaker's `metadata.json` (bounds, zoom levels, layers). The app serves them at
/map/tiles/ and the glyph ranges for labels (static/vendor/map-fonts, Noto Sans, OFL) at
/map/fonts/; the pages draw them with MapLibre GL inside Leaflet (static/js/basemap.js).
nginx can serve the same directory itself (docs/deployment.md).

A tile the pyramid covers (zoom within the tileset's levels, x/y within its bounds) but that
tilemaker did not write holds nothing (no feature there): it is answered as empty, not missing, so a
browser does not log an error for every field of the region without a feature.
"""

import json
import math
import shutil
import subprocess  # nosec B404  # tilemaker, with an argument list we build, never a shell
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse

from config.errors import DomainError

TILES_CONFIG_DIR = Path(settings.BASE_DIR) / "scripts" / "tiles"
BUILD_INFO = "build.json"
# Fonts of the style in static/js/basemap.js; a label asks for one of them per 256 code points.
FONTS = ("Noto Sans Regular", "Noto Sans Medium", "Noto Sans Italic")
GLYPH_RANGE_SIZE = 256


class BaseMapError(DomainError):
    """The base map could not be built (tilemaker missing or failing, no extract)."""


class TileOutsidePyramid(Exception):
    """A tile address the tileset does not cover: a zoom level it has not, or x/y outside its bounds."""


@dataclass(frozen=True)
class Tileset:
    directory: Path
    bounds: tuple[float, float, float, float]  # west, south, east, north (degrees)
    minzoom: int
    maxzoom: int
    version: str  # changes with every build: ETags and the tile URL carry it

    def tile_path(self, z: int, x: int, y: int) -> Path | None:
        """The file of tile z/x/y, None where the pyramid has no feature; TileOutsidePyramid outside it."""
        if not self.minzoom <= z <= self.maxzoom:
            raise TileOutsidePyramid(f"zoom {z} is not in {self.minzoom}..{self.maxzoom}")
        west, south, east, north = self.bounds
        x_min, y_min = tile_xy(north, west, z)
        x_max, y_max = tile_xy(south, east, z)
        if not (x_min <= x <= x_max and y_min <= y <= y_max):
            raise TileOutsidePyramid(f"tile {z}/{x}/{y} is outside the region's bounds")
        path = self.directory / str(z) / str(x) / f"{y}.pbf"
        return path if path.is_file() else None


def tile_xy(lat: float, lon: float, z: int) -> tuple[int, int]:
    """The Web Mercator (XYZ) tile holding a point at zoom z, clamped to the world's tiles."""
    n = 2**z
    lat = max(min(lat, 85.0511), -85.0511)
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def prepared_tileset() -> Tileset | None:
    """The tiles built in settings.MAP_TILES_DIR, or None before `build_map_tiles` has run."""
    metadata = Path(settings.MAP_TILES_DIR) / "metadata.json"
    try:
        stamp = metadata.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    return _read_tileset(str(metadata), stamp)


@lru_cache(maxsize=4)
def _read_tileset(metadata_path: str, stamp: int) -> Tileset:
    # Keyed by the file's mtime: a rebuild (a new metadata.json) is read again, otherwise never.
    metadata = json.loads(Path(metadata_path).read_text())
    west, south, east, north = (float(v) for v in metadata["bounds"])
    return Tileset(
        directory=Path(metadata_path).parent,
        bounds=(west, south, east, north),
        minzoom=int(metadata.get("minzoom", 0)),
        maxzoom=int(metadata.get("maxzoom", 14)),
        version=f"{stamp:x}",
    )


def glyph_path(fontstack: str, start: int, end: int) -> Path | None:
    """The glyph range file of the first font of `fontstack` we ship; None for a range we do not ship.

    MapLibre asks for "<font>[,<fallback>…]/<start>-<end>.pbf", ranges of 256 code points.
    """
    if start % GLYPH_RANGE_SIZE or end != start + GLYPH_RANGE_SIZE - 1 or end > 0xFFFF:
        raise TileOutsidePyramid(f"{start}-{end} is not a glyph range")
    for font in fontstack.split(","):
        font = font.strip()
        if font in FONTS:
            path = Path(settings.MAP_FONTS_DIR) / font / f"{start}-{end}.pbf"
            return path if path.is_file() else None
    raise TileOutsidePyramid(f"no font of {fontstack!r} is served")


def base_map_options() -> dict | None:
    """What static/js/basemap.js needs to draw the prepared tiles; None without them."""
    tileset = prepared_tileset()
    if tileset is None:
        return None
    tile_url = reverse("map_tile", kwargs={"z": 0, "x": 0, "y": 0})
    glyph_url = reverse("map_glyphs", kwargs={"fontstack": "F", "start": 0, "end": 255})
    return {
        # The build's version in the URL: browsers that kept yesterday's tiles ask again after a rebuild.
        "tiles": tile_url.replace("/0/0/0.pbf", "/{z}/{x}/{y}.pbf") + f"?v={tileset.version}",
        "glyphs": glyph_url.replace("/F/0-255.pbf", "/{fontstack}/{range}.pbf"),
        "worker": static("vendor/maplibre-gl/maplibre-gl-csp-worker.js"),
        "bounds": list(tileset.bounds),
        "minzoom": tileset.minzoom,
        "maxzoom": tileset.maxzoom,
    }


def base_map_assets() -> tuple[list[str], list[str]]:
    """(scripts, stylesheets) a page loads to draw the base map, in order; static/js/basemap.js last."""
    scripts = [
        static("vendor/maplibre-gl/maplibre-gl-csp.js"),
        static("vendor/maplibre-gl-leaflet/leaflet-maplibre-gl.js"),
        static("js/basemap.js"),
    ]
    return scripts, [static("vendor/maplibre-gl/maplibre-gl.css")]


def _source_stamp(source: Path) -> dict:
    stat = source.stat()
    return {"source": str(source.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def tiles_are_current(source: Path, target: Path | None = None) -> bool:
    """Whether `target` holds tiles built from this very extract (same path, size and time)."""
    target = Path(target or settings.MAP_TILES_DIR)
    try:
        built = json.loads((target / BUILD_INFO).read_text())
    except (FileNotFoundError, ValueError):
        return False
    return (target / "metadata.json").is_file() and {k: built.get(k) for k in ("source", "size", "mtime_ns")} == (
        _source_stamp(source)
    )


def build_map_tiles(*, source: Path, target: Path | None = None, tilemaker: str = "tilemaker") -> dict:
    """Build the vector tiles of `source` (.osm.pbf) into `target` (default settings.MAP_TILES_DIR).

    tilemaker writes into a fresh directory beside the target, which then replaces the old tiles:
    the server never serves a half-written pyramid. Returns the build's figures.
    """
    target = Path(target or settings.MAP_TILES_DIR)
    source = Path(source)
    if not source.is_file():
        raise BaseMapError(f"no OpenStreetMap extract at {source}")
    executable = shutil.which(tilemaker)
    if executable is None:
        raise BaseMapError(
            f"{tilemaker} is not installed: run scripts/install_tilemaker.sh (apt-get install tilemaker)"
        )
    building = target.with_name(target.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    command = [
        executable,
        "--input", str(source),
        "--output", str(building),
        "--config", str(TILES_CONFIG_DIR / "config.json"),
        "--process", str(TILES_CONFIG_DIR / "process.lua"),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # nosec B603  # argv, no shell
    if result.returncode != 0 or not (building / "metadata.json").is_file():
        shutil.rmtree(building, ignore_errors=True)
        raise BaseMapError(f"tilemaker failed on {source} (exit {result.returncode}): {result.stderr.strip()[-800:]}")
    figures = {
        **_source_stamp(source),
        "tiles": sum(1 for _ in building.rglob("*.pbf")),
        "bytes": sum(p.stat().st_size for p in building.rglob("*.pbf")),
        "seconds": round(time.monotonic() - started, 1),
    }
    (building / BUILD_INFO).write_text(json.dumps(figures, indent=1))
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    building.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return figures
