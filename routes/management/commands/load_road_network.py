import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from routes.network import prepared_is_current
from routes.road_network import active_build, road_network_build


class Command(BaseCommand):
    help = "Prepare a road network (car and bike graphs, CCH, address index) from an OpenStreetMap .osm.pbf file."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", type=Path, help="the .osm.pbf extract (default: the demo region)")
        parser.add_argument("--if-missing", action="store_true", help="do nothing when a prepared network is active")

    def handle(self, *args, **options):
        if options["if_missing"]:
            build = active_build()
            if build is not None and Path(build.path).is_dir():
                if prepared_is_current(build.path):
                    self.stdout.write(f"Road network ready: {build}")
                    return
                # an upgrade changed the prepared format: prepare it again rather than fail at first use
                self.stdout.write(f"Road network {build} was prepared by an older version: preparing it again")
        source: Path = options["file"] or settings.DEMO_PBF
        if not source.is_file():
            raise CommandError(f"{source}: no such file")
        build = road_network_build(source=source)
        summary = build.summary
        self.stdout.write(
            json.dumps({k: summary[k] for k in ("road_nodes", "addresses", "profiles", "timings")}, indent=1)
        )
        self.stdout.write(self.style.SUCCESS(f"Road network of {source.name} ready in {build.path}"))
