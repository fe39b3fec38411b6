"""Put a backup archive back: database, media, road network (checksums verified first)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from config.backups import BackupError, backup_restore, backup_verify


class Command(BaseCommand):
    help = (
        "Restore an archive written by `manage.py backup`. Stop every daphne and Celery process first. Refuses a "
        "database that already holds data unless --force (which replaces it), and an archive of a newer release."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", type=Path)
        parser.add_argument("--force", action="store_true", help="Replace a database that already holds data")
        parser.add_argument("--verify-only", action="store_true", help="Check the checksums and stop")
        parser.add_argument("--no-media", action="store_true", help="Leave MEDIA_ROOT as it is")
        parser.add_argument("--no-network", action="store_true", help="Leave the road network as it is")
        parser.add_argument("--network-dir", type=Path, help="Put the road network here instead of its old path")

    def handle(
        self,
        *args,
        archive,
        force=False,
        verify_only=False,
        no_media=False,
        no_network=False,
        network_dir=None,
        **options,
    ):
        if not archive.is_file():
            raise CommandError(f"{archive}: no such file")
        try:
            if verify_only:
                manifest = backup_verify(archive)
                self.stdout.write(
                    f"{archive}: {len(manifest['files'])} files, checksums match (made {manifest['created_at']})."
                )
                return
            result = backup_restore(
                archive, force=force, media=not no_media, network=not no_network, network_dir=network_dir
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        network = (
            f", road network ({result.network_files} files) in {result.network_path}" if result.network_path else ""
        )
        self.stdout.write(f"Restored the {result.database} database, {result.media_files} media files{network}.")
