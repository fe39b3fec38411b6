"""The embedded mode as `make run` has it, flooded: run by tests/test_task_priorities.py in a process of
its own (no DATABASE_URL, no REDIS_URL: a SQLite file in WAL mode in VAR_DIR, a thread per queue).

The test suite's SQLite database is in memory with a shared cache, where two threads writing at
once fail at once ("database table is locked") instead of waiting as the embedded mode's file does;
so the threads are tried here, on the real file. Prints one JSON line: how long the plan waited
and took, and how many flood jobs were still waiting when it started and when it was done.

    python -m tests.embedded_flood NETWORK_DIR FLOOD_ORDERS MESSAGES_PER_ORDER
"""

import json
import os
import sys
import time


def main(network_dir: str, flood_orders: int, messages_per_order: int) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from datetime import time as clock
    from datetime import timedelta

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.utils import timezone

    from config import tasks
    from customers.notifications.tasks import notify_eta, notify_status
    from dispatch.models import Customer, Depot, Order, Vehicle
    from dispatch.roles import MANAGER, ensure_role_groups
    from routes.models import Plan, RoadNetworkBuild
    from routes.plans.services import plan_request

    assert settings.CELERY_TASK_ALWAYS_EAGER and not settings.TASKS_RUN_INLINE and not settings.DATABASE_URL
    call_command("migrate", verbosity=0)
    ensure_role_groups()
    manager = get_user_model().objects.create_user(username="manager", password="x")
    manager.groups.add(Group.objects.get(name=MANAGER))
    RoadNetworkBuild.objects.create(source=str(settings.DEMO_PBF), path=network_dir, active=True)
    depot = Depot.objects.create(code="A", name="Depot A", lat=47.14, lon=9.52)
    Vehicle.objects.create(
        name="A-Van-1", depot=depot, kind="van", capacity_kg=800, capacity_items=100,
        shift_start=clock(6), shift_end=clock(22),
    )  # fmt: skip
    tomorrow = timezone.localdate() + timedelta(days=1)
    points = [(47.1399, 9.5213), (47.1450, 9.5235), (47.1352, 9.5190), (47.1300, 9.5230), (47.1420, 9.5160)]
    for number, (lat, lon) in enumerate(points):
        Order.objects.create(reference=f"P{number}", date=tomorrow, depot=depot, lat=lat, lon=lon, snap_distance_m=10)
    customers = Customer.objects.bulk_create(
        Customer(name=f"Customer {n}", email=f"c{n}@example.com") for n in range(flood_orders)
    )
    flood = Order.objects.bulk_create(
        Order(reference=f"F{n}", date=tomorrow, depot=depot, lat=47.14, lon=9.52, customer=c, email=c.email)
        for n, c in enumerate(customers)
    )

    def waiting() -> int:
        return sum(len(tasks._embedded_queue(tasks.queue_of_kind(k)).waiting()) for k in ("live", "notifications"))

    eta = (timezone.now() + timedelta(hours=30)).isoformat()
    for order in flood:
        tasks.enqueue(notify_eta, order.pk, eta)
        for _ in range(messages_per_order):
            tasks.enqueue(notify_status, order.pk, "en_route")
    flood_queued = waiting()

    asked = time.monotonic()
    (plan,) = plan_request(user=manager, day=tomorrow, depot_code="A", time_budget_s=1)
    started_after = waiting_at_start = None
    while True:
        status, error = Plan.objects.filter(pk=plan.pk).values_list("status", "error").get()
        if status != "queued" and started_after is None:
            started_after, waiting_at_start = time.monotonic() - asked, waiting()
        if status in ("done", "failed") or time.monotonic() - asked > 120:
            break
        time.sleep(0.05)
    result = {
        "flood_queued": flood_queued, "plan_status": status, "plan_error": error,
        "plan_started_after_s": round(started_after or -1, 2), "plan_done_after_s": round(time.monotonic() - asked, 2),
        "flood_waiting_at_start": waiting_at_start, "flood_waiting_when_done": waiting(),
    }  # fmt: skip
    while waiting():  # let the flood finish before the process (and its threads) ends
        time.sleep(0.1)
    result["flood_drained_after_s"] = round(time.monotonic() - asked, 2)
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))), flush=True)
