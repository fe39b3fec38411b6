"""Start the messages whose time has come: held ones whose quiet hours are over, and "delayed" ones
whose minimum interval is over (for the embedded mode after a restart, or cron)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from customers.notifications.outbox import notifications_release_due
from customers.notifications.promises import delay_messages_send_due


class Command(BaseCommand):
    help = "Send held notifications whose quiet hours have ended, and delay messages whose interval is over."

    def handle(self, *args, **options):
        with transaction.atomic():
            count = notifications_release_due()
            delayed = delay_messages_send_due()
        self.stdout.write(f"{count} held notification(s) started, {delayed} delay message(s) written")
