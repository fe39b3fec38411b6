from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from dispatch.errors import OrderImportError
from dispatch.orders.importing import orders_import_csv
from routes.geocoding import default_geocoder


class Command(BaseCommand):
    help = "Import orders from a CSV file (same format and rules as POST /api/orders/import/)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--as-user", default=None, help="username recorded as the importer (default: none)")

    def handle(self, *args, **options):
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        user = None
        if options["as_user"]:
            user = get_user_model().objects.filter(username=options["as_user"]).first()
            if user is None:
                raise CommandError(f"unknown user {options['as_user']!r}")
        try:
            result = orders_import_csv(data=path.read_bytes(), user=user, geocode=default_geocoder())
        except OrderImportError as exc:
            for error in exc.errors:
                self.stderr.write(
                    f"row {error.get('row')}: {error['field']}={error.get('value')!r}: {error['message']}"
                )
            raise CommandError(f"{len(exc.errors)} error(s); nothing was imported") from None
        for warning in result.warnings:
            self.stdout.write(f"warning: row {warning['row']}: {warning['field']}: {warning['message']}")
        self.stdout.write(self.style.SUCCESS(f"{len(result.created)} created, {len(result.updated)} updated"))
