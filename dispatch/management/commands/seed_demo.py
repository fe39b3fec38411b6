from datetime import date

from django.core.management.base import BaseCommand
from django.utils import timezone

from dispatch.demo.history import demo_history_exists, demo_history_seed
from dispatch.demo.seeding import demo_seed
from dispatch.models import Depot


class Command(BaseCommand):
    help = "Create the Liechtenstein demo company (depots, fleet, drivers, staff) and a day of orders."

    def add_arguments(self, parser):
        parser.add_argument("--date", type=date.fromisoformat, help="day of the orders (default: today)")
        parser.add_argument("--orders", type=int, default=300)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--days",
            type=int,
            default=0,
            help="also create this many past days of history (once: skipped if any exist)",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="only seed what is missing: the company once, then the day's orders once (today's are laid out "
            "around now; on a later day, that day's; the same day again, only if nobody touched them and their "
            "first window has closed)",
        )

    def handle(self, *args, **options):
        now = timezone.now()
        day = options["date"] or timezone.localdate(now)
        if options["if_empty"] and Depot.objects.exists():
            self.stdout.write("Demo company exists; adding the day's orders only if it has none.")
        summary = demo_seed(day=day, orders=options["orders"], seed=options["seed"], now=now)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo: {summary.depots} depots, {summary.vehicles} vehicles, {summary.drivers} drivers, "
                f"{summary.orders_created} orders created for {day}"
                + (f", {summary.orders_relaid} laid out again around now" if summary.orders_relaid else "")
                + "."
            )
        )
        if layout := summary.day_layout:
            start, end = layout.local_shift()
            last = timezone.localtime(layout.last_window_end)
            self.stdout.write(
                f"Today's demo starts now: windows from {timezone.localtime(layout.first_window):%H:%M} to "
                f"{last:%H:%M}"
                + (" (the next morning)" if last.date() > day else "")
                + f", the demo fleet's shifts {start:%H:%M} to {end:%H:%M}"
                + (" (the next morning)" if end <= start else "")
                + "."
            )
        if options["days"] > 0:
            self._seed_history(day, options["days"], options["orders"], options["seed"])

    def _seed_history(self, day, days, orders, seed):
        import time

        if demo_history_exists(before=day):
            self.stdout.write("Demo history exists; not adding more.")
            return
        started = time.perf_counter()
        history = demo_history_seed(days=days, end=day, orders_per_day=orders, seed=seed)
        self.stdout.write(
            self.style.SUCCESS(
                f"History: {history.orders} orders, {history.status_changes} status changes and "
                f"{history.feedback} ratings over {history.days} days in {time.perf_counter() - started:.1f} s."
            )
        )
