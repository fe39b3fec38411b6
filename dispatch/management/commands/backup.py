"""Write one backup archive: the database, media (proofs of delivery) and the prepared road network."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from config.backups import BackupError, backup_create


class Command(BaseCommand):
    help = (
        "Back up the database (pg_dump custom format, or SQLite's backup API), MEDIA_ROOT and the active road "
        "network into one tar archive with a manifest of SHA-256 checksums. Restore with `manage.py restore`."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output", type=Path, help="Archive to write (default: VAR_DIR/backups/dispatch-<time>.tar)"
        )
        parser.add_argument("--no-media", action="store_true", help="Leave out MEDIA_ROOT (proofs of delivery)")
        parser.add_argument("--no-network", action="store_true", help="Leave out the prepared road network")

    def handle(self, *args, output=None, no_media=False, no_network=False, **options):
        try:
            result = backup_create(output=output, media=not no_media, network=not no_network)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Wrote {result.path} ({result.files} files, {result.size / 1e6:.1f} MB).")
