from datetime import date

from django.core.management.base import BaseCommand
from django.utils import timezone

from dispatch.demo import demo_seed
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
            "--if-empty", action="store_true", help="only seed what is missing: the company once, then today's orders"
        )

    def handle(self, *args, **options):
        day = options["date"] or timezone.localdate()
        if options["if_empty"] and Depot.objects.exists():
            self.stdout.write("Demo company exists; adding orders only if the day has none.")
        summary = demo_seed(day=day, orders=options["orders"], seed=options["seed"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo: {summary.depots} depots, {summary.vehicles} vehicles, {summary.drivers} drivers, "
                f"{summary.orders_created} orders created for {day}."
            )
        )
        if options["days"] > 0:
            self._seed_history(day, options["days"], options["orders"], options["seed"])

    def _seed_history(self, day, days, orders, seed):
        import time

        from dispatch.demo_history import demo_history_exists, demo_history_seed

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
