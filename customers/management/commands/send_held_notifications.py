"""Start the messages whose quiet hours are over (for the embedded mode after a restart, or cron)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from customers.services import notifications_release_due


class Command(BaseCommand):
    help = "Send held notifications whose quiet hours have ended."

    def handle(self, *args, **options):
        with transaction.atomic():
            count = notifications_release_due()
        self.stdout.write(f"{count} held notification(s) started")
