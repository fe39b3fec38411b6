from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from dispatch.demo.simulator import (
    Api,
    FleetSimulation,
    Options,
    SimulationError,
    dispatched_drivers,
    driver_tokens,
    request_and_dispatch_plans,
    simulated_drivers,
)
from dispatch.demo.truth import DEFAULT_TRUTH_PATH, TruthError, check_zone_codes, load_truth
from dispatch.models import Order, Zone


class Command(BaseCommand):
    help = (
        "Drive every dispatched route of the day through the running server's API (positions, arrivals, "
        "deliveries, failures), `--speed` times faster than real time. Loopback servers only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running server (loopback only)")
        parser.add_argument("--speed", type=float, default=10.0, help="simulated seconds per real second")
        parser.add_argument(
            "--date", type=date.fromisoformat, help="the day (default today; the driver API serves today)"
        )
        parser.add_argument("--failure-rate", type=float, default=0.05, help="share of stops that fail")
        parser.add_argument("--delay-rate", type=float, default=0.1, help="share of stops where the driver lingers")
        parser.add_argument("--every", type=float, default=10.0, help="simulated seconds between positions")
        parser.add_argument("--max-minutes", type=float, default=60.0, help="stop after this many real minutes")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--plan", action="store_true", help="if nothing is dispatched, plan the day and dispatch it first"
        )
        parser.add_argument("--dispatcher", default="", help="user:password of a dispatcher, for --plan")
        parser.add_argument(
            "--truth", default=str(DEFAULT_TRUTH_PATH),
            help="drive under this truth file (how roads and doorsteps really behave; default: the demo region's)",
        )  # fmt: skip
        parser.add_argument("--no-truth", action="store_true", help="drive exactly the planned times instead")

    def handle(self, *args, **options):
        day = options["date"] or timezone.localdate()
        if day != timezone.localdate():
            raise CommandError(
                f"The driver API serves today's routes ({timezone.localdate()}); {day} cannot be driven."
            )
        for name in ("failure_rate", "delay_rate"):
            if not 0 <= options[name] <= 1:
                raise CommandError(f"--{name.replace('_', '-')} must be between 0 and 1")
        if options["speed"] <= 0 or options["every"] <= 0:
            raise CommandError("--speed and --every must be positive")
        truth = None
        if not options["no_truth"]:
            try:
                truth = load_truth(options["truth"])
            except TruthError as exc:
                raise CommandError(f"{options['truth']}: {exc}") from None
            try:
                check_zone_codes(truth, Zone.objects.values_list("code", flat=True))
            except TruthError as exc:
                # The live demo still runs on a company with other zones; only that zone's doorsteps don't apply.
                self._log(f"Warning: {options['truth']}: {exc}")
            self._log(f"Driving under the truth {truth.name!r} ({options['truth']}).")
        try:
            api = Api(options["url"])
            drivers = dispatched_drivers(day)
            if not drivers and options["plan"]:
                user, _, password = options["dispatcher"].partition(":")
                if not user or not password:
                    raise CommandError("--plan needs --dispatcher user:password (e.g. dispatcher:dispatcher-demo-2026)")
                request_and_dispatch_plans(api, day=day, username=user, password=password, log=self._log)
                drivers = dispatched_drivers(day)
            if not drivers and not Order.objects.filter(date=day).exists():
                # After midnight the demo day laid out last evening is yesterday's; today's is laid out on start.
                raise CommandError(
                    f"No plan is dispatched for {day}, and the day has no orders. Start `make run` again (it lays "
                    "out today's demo around now) or run `manage.py seed_demo --if-empty`, then simulate."
                )
            if not drivers:
                raise CommandError(
                    f"No plan is dispatched for {day}: nothing to drive. Plan and dispatch one on the Plans page, "
                    "or run again with --plan --dispatcher dispatcher:dispatcher-demo-2026."
                )
            fleet = simulated_drivers(api, drivers, driver_tokens(drivers), log=self._log)
            if not fleet:
                self._log("Every dispatched route is done already.")
                return
            self._log(
                f"Driving {len(fleet)} routes of {day} at {options['speed']:g}x against {api.base_url} "
                f"(watch them on {api.base_url}/live/); Ctrl-C stops."
            )
            simulation = FleetSimulation(
                api, fleet, Options(
                    speed=options["speed"], position_every_s=options["every"], failure_rate=options["failure_rate"],
                    delay_rate=options["delay_rate"], max_minutes=options["max_minutes"], seed=options["seed"],
                    truth=truth,
                ), log=self._log,
            )  # fmt: skip
            summary = simulation.run()
        except SimulationError as exc:
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt:
            self._log("Stopped.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"{'Done' if summary.finished else 'Stopped'}: {summary.drivers} drivers, {summary.delivered} delivered, "
                f"{summary.failed} failed, {summary.positions} positions, {summary.requests} requests "
                f"({summary.errors} refused) in {summary.real_seconds:.0f} s"
            )
        )

    def _log(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()
