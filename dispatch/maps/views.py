"""The base map's tiles and label glyphs, served from the files `build_map_tiles` prepared.

Public, as the tiles are OpenStreetMap data: the customer's tracking page draws them too. Each
answer carries Cache-Control and an ETag (the build's version for tiles, the file for glyphs); a
conditional request with a matching ETag gets 304. Tiles are stored gzip-compressed (tilemaker) and
sent as they are to a browser that accepts gzip, decompressed for one that does not.
"""

import gzip
import re

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.http import require_safe

from dispatch.maps.basemap import TileOutsidePyramid, glyph_path, prepared_tileset

TILE_CONTENT_TYPE = "application/vnd.mapbox-vector-tile"
_ACCEPTS_GZIP = re.compile(r"\bgzip\b(?!\s*;\s*q=0(?:\.0*)?\s*(?:,|$))")


def _cached(response: HttpResponse, etag: str) -> HttpResponse:
    response["ETag"] = etag
    patch_cache_control(response, public=True, max_age=settings.MAP_TILE_MAX_AGE)
    return response


def _not_modified(request, etag: str) -> bool:
    return etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]


@require_safe
def map_tile(request, z: int, x: int, y: int):
    tileset = prepared_tileset()
    if tileset is None:
        raise Http404("no base map is built (manage.py build_map_tiles)")
    try:
        path = tileset.tile_path(z, x, y)
    except TileOutsidePyramid as outside:
        raise Http404(str(outside)) from outside
    etag = f'"{tileset.version}-{z}-{x}-{y}"'
    if _not_modified(request, etag):
        return _cached(HttpResponseNotModified(), etag)
    if path is None:  # inside the region, no feature there: an empty tile, not an error
        return _cached(HttpResponse(status=204), etag)
    body = path.read_bytes()
    response = HttpResponse(content_type=TILE_CONTENT_TYPE)
    patch_vary_headers(response, ["Accept-Encoding"])
    if body[:2] != b"\x1f\x8b":  # a tileset built without compression
        response.content = body
    elif _ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", "")):
        response.content = body
        response["Content-Encoding"] = "gzip"
    else:
        response.content = gzip.decompress(body)
    return _cached(response, etag)


@require_safe
def map_glyphs(request, fontstack: str, start: int, end: int):
    try:
        path = glyph_path(fontstack, start, end)
    except TileOutsidePyramid as unknown:
        raise Http404(str(unknown)) from unknown
    if path is None:  # a range of a script we do not ship: no glyphs, and the label draws without them
        return _cached(HttpResponse(b"", content_type="application/x-protobuf"), '"empty"')
    stat = path.stat()
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    if _not_modified(request, etag):
        return _cached(HttpResponseNotModified(), etag)
    return _cached(HttpResponse(path.read_bytes(), content_type="application/x-protobuf"), etag)
