import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from dispatch.maps.basemap import BaseMapError, build_map_tiles, tiles_are_current
from routes.road_network import active_build


def _region_extract() -> Path:
    """The extract the active road network was prepared from (the maps show the roads the plans use)."""

    try:
        build = active_build()
    except DatabaseError:  # a database not migrated yet: no network prepared either
        build = None
    if build is not None and Path(build.source).is_file():
        return Path(build.source)
    return settings.DEMO_PBF


class Command(BaseCommand):
    help = "Build the base map's vector tiles (tilemaker, OpenMapTiles schema) from an OpenStreetMap .osm.pbf file."

    def add_arguments(self, parser):
        parser.add_argument(
            "file",
            nargs="?",
            type=Path,
            help="the .osm.pbf extract (default: the active road network's, else the demo)",
        )
        parser.add_argument(
            "--if-missing", action="store_true", help="do nothing when tiles of this extract are already built"
        )
        parser.add_argument(
            "--output", type=Path, help=f"directory of the tiles (default MAP_TILES_DIR, {settings.MAP_TILES_DIR})"
        )

    def handle(self, *args, **options):
        source: Path = options["file"] or _region_extract()
        target: Path = options["output"] or settings.MAP_TILES_DIR
        if options["if_missing"] and tiles_are_current(source, target):
            self.stdout.write(f"Base map ready: {target}")
            return
        try:
            figures = build_map_tiles(source=source, target=target)
        except BaseMapError as error:
            raise CommandError(error.message) from error
        self.stdout.write(json.dumps({k: figures[k] for k in ("tiles", "bytes", "seconds")}))
        self.stdout.write(self.style.SUCCESS(f"Base map of {source.name} ready in {target}"))
