"""GET /metrics (Prometheus text): the counters of config.metrics, summed over this machine's processes,
and the state read at scrape time (queues from Redis or the embedded workers, closures' re-plans from
the database). Staff users or the monitoring token (METRICS_TOKEN) only. Wiring: it reads the tables of
the apps, so it sits with config.urls, above them; config.metrics itself imports no app."""

from __future__ import annotations

import logging

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from config.access import staff_or_bearer
from config.metrics import MULTIPROC_DIR
from config.tasks import _embedded_queues, queue_stats
from routes.models import ClosureApplication

logger = logging.getLogger(__name__)


class StateCollector:
    """Queues and closures as they stand now, read from Redis / the embedded workers / the database."""

    def collect(self):
        yield from self._queues()
        yield from self._closures()

    def _queues(self):
        waiting = GaugeMetricFamily("dispatch_queue_waiting", "Tasks waiting in a queue", labels=["kind", "queue"])
        age = GaugeMetricFamily(
            "dispatch_queue_oldest_age_seconds",
            "Age of the oldest waiting task (0: none waits)",
            labels=["kind", "queue"],
        )
        coalesced = CounterMetricFamily(
            "dispatch_queue_coalesced", "Live jobs folded into one already waiting", labels=["kind", "queue"]
        )
        dropped = CounterMetricFamily(
            "dispatch_queue_dropped", "Live jobs dropped past TASK_LIVE_BACKLOG_MAX", labels=["kind", "queue"]
        )
        up = GaugeMetricFamily("dispatch_queue_stats_up", "1 when the queues could be read")
        try:
            stats = queue_stats()
        except Exception:  # noqa: BLE001 - the scrape still answers; the gauge says the queues were unreadable
            logger.warning("metrics: could not read the queues", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for kind, entry in stats.items():
            labels = [kind, entry["queue"]]
            waiting.add_metric(labels, entry["waiting"])
            age.add_metric(labels, entry["oldest_age_s"] or 0)
            coalesced.add_metric(labels, entry.get("coalesced", 0))
            dropped.add_metric(labels, entry.get("dropped", 0))
        yield from (up, waiting, age, coalesced, dropped)
        yield from self._embedded_workers()

    def _embedded_workers(self):
        from django.conf import settings

        if not settings.CELERY_TASK_ALWAYS_EAGER or settings.TASKS_RUN_INLINE:
            return

        busy = GaugeMetricFamily(
            "dispatch_embedded_worker_busy",
            "1 while the embedded worker thread of a queue runs a task",
            labels=["queue"],
        )
        alive = GaugeMetricFamily("dispatch_embedded_worker_alive", "1 while the thread is alive", labels=["queue"])
        for name, queue in list(_embedded_queues.items()):
            busy.add_metric([name], 1 if queue.running is not None else 0)
            thread = queue._thread
            alive.add_metric([name], 1 if thread is not None and thread.is_alive() else 0)
        yield from (busy, alive)

    def _closures(self):
        from django.db.models import Q
        from django.utils import timezone

        replans = GaugeMetricFamily(
            "dispatch_closure_replans_in_force",
            "Plans re-planned so far for each closure in force (or lifted in the last day)",
            labels=["closure"],
        )
        try:
            since = timezone.now() - timezone.timedelta(days=1)
            rows = ClosureApplication.objects.filter(
                Q(closure__lifted_at=None) | Q(closure__lifted_at__gte=since), status=ClosureApplication.Status.DONE
            ).values_list("closure_id", "new_plans")
            totals: dict[int, int] = {}
            for closure_id, new_plans in rows:
                totals[closure_id] = totals.get(closure_id, 0) + len(new_plans or [])
        except Exception:  # noqa: BLE001 - a database outage shows on /healthz; the scrape still answers
            logger.warning("metrics: could not read the closures", exc_info=True)
            return
        for closure_id, total in sorted(totals.items()):
            replans.add_metric([str(closure_id)], total)
        yield replans


def scrape() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROC_DIR:
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)
    registry.register(StateCollector())
    return generate_latest(registry)


def may_scrape(request) -> bool:
    from django.conf import settings

    return staff_or_bearer(request, settings.METRICS_TOKEN)


def metrics_view(request):
    from django.http import HttpResponse, JsonResponse

    if request.method != "GET":
        return JsonResponse({"detail": "GET only."}, status=405)
    if not may_scrape(request):
        response = JsonResponse(
            {"detail": "Metrics are for staff users or the monitoring token (METRICS_TOKEN)."}, status=401
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
