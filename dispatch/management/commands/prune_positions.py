"""Delete driver positions older than POSITION_RETENTION_DAYS (also run daily by Celery beat)."""

from django.core.management.base import BaseCommand, CommandError

from dispatch.live.positions import driver_positions_prune


class Command(BaseCommand):
    help = "Delete driver positions recorded before the retention period (POSITION_RETENTION_DAYS)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Keep this many days instead of the setting")

    def handle(self, *args, days=None, **options):
        if days is not None and days < 0:
            raise CommandError("--days must be 0 or more")
        deleted = driver_positions_prune(retention_days=days)
        self.stdout.write(f"Deleted {deleted} driver position(s).")
