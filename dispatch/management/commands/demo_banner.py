from django.core.management.base import BaseCommand
from django.utils import timezone

from dispatch.demo.seeding import DEMO_LOGINS, demo_day_description


class Command(BaseCommand):
    help = "Print the URL and the demo logins (used by `make run`)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args, **options):
        url = f"http://{options['host']}:{options['port']}/"
        lines = ["", "=" * 72, f"  Dispatch is starting at {url}", "", "  Demo logins (username / password — role):"]
        for username, password, role, sees in DEMO_LOGINS:
            lines.append(f"    {username:<18} {password:<22} {role}: {sees}")
        lines += [
            "    driver01 … driver12 (and pilot01, the demo drone's pilot) share the password driver-demo-2026",
            "",
            f"  Dashboard {url}   Admin {url}admin/   API docs {url}api/docs/   Health {url}healthz",
            f"  Live map {url}live/ — in another terminal, `make simulate` (manage.py simulate_fleet --speed 10)",
            "  drives today's dispatched routes through the API (it plans and dispatches the day first if needed)",
        ]
        if today := demo_day_description(timezone.localdate()):
            lines.append(f"  {today}")
        lines += [
            "  Map data © OpenStreetMap contributors (ODbL)",
            "=" * 72,
            "",
        ]
        self.stdout.write("\n".join(lines))
