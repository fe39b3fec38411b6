import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from dispatch.demo.simulated_history import SimulationError, report_table, simulate_history
from dispatch.demo.truth import DEFAULT_TRUTH_PATH, TruthError, check_zone_codes, load_truth
from dispatch.models import Zone


class Command(BaseCommand):
    help = (
        "Play the N days ending yesterday under a truth file (how roads and doorsteps really behave): "
        "orders, the day planned with the app's model, driven under the truth through the driver services, "
        "the learning after each day; prints (and with --json writes) how good each day's ETAs were."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, required=True, help="how many days, ending yesterday")
        parser.add_argument("--truth", default=str(DEFAULT_TRUTH_PATH), help="the truth file (format 1)")
        parser.add_argument("--depot", action="append", default=[], help="a depot code (repeat; default: all)")
        parser.add_argument("--json", dest="json_out", default="", help="write the report (SIMULATION.md) here")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--orders", type=int, default=300, help="orders per day (about)")
        parser.add_argument("--time-budget", type=float, default=10.0, help="solver seconds per plan")

    def handle(self, *args, **options):
        if not 1 <= options["days"] <= 366:
            raise CommandError(f"--days must be between 1 and 366, not {options['days']}")
        if not 1 <= options["orders"] <= 5000:
            raise CommandError(f"--orders must be between 1 and 5000, not {options['orders']}")
        if options["time_budget"] <= 0:
            raise CommandError(f"--time-budget must be positive, not {options['time_budget']}")
        try:
            truth = load_truth(options["truth"])
            check_zone_codes(truth, Zone.objects.values_list("code", flat=True))
        except TruthError as exc:
            raise CommandError(f"{options['truth']}: {exc}") from None
        output = Path(options["json_out"]) if options["json_out"] else None
        if output is not None and not output.parent.is_dir():
            raise CommandError(f"--json {output}: the folder {output.parent} does not exist")
        try:
            report = simulate_history(
                days=options["days"], truth=truth, seed=options["seed"], depot_codes=options["depot"] or None,
                orders_per_day=options["orders"], time_budget_s=options["time_budget"], log=self._log,
            )  # fmt: skip
        except SimulationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(report_table(report))
        if output is not None:
            output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            self.stdout.write(f"Report written to {output}")

    def _log(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()
