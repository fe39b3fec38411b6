"""One row per order with everything the KPIs need, computed in the database from the raw tables.

Why a table: the raw facts of one delivery are spread over Order, OrderStatusChange (several rows),
the dispatched plan's Stop, Route and Vehicle. Joining and grouping those for a quarter of a
million orders on every page view costs seconds; this narrow table is aggregated in tens of
milliseconds (benchmarks/ANALYTICS.md). It is derived data: `analytics.services.order_facts_refresh`
rebuilds any range of days with one INSERT ... SELECT, after status changes and dispatches (see
analytics.handlers) and nightly. Feedback is not copied here: ratings are joined at query time so
they count the moment a customer sends them.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from dispatch.models import Order


class OrderFact(models.Model):
    order = models.OneToOneField(
        Order, on_delete=models.CASCADE, primary_key=True, related_name="analytics_fact", verbose_name=_("order")
    )
    date = models.DateField(verbose_name=_("date"))
    depot_id = models.IntegerField(verbose_name=_("depot id"))
    zone_id = models.IntegerField(null=True, verbose_name=_("zone id"))
    status = models.CharField(max_length=16, verbose_name=_("status"))
    # The route of the newest dispatched plan that holds the order (none when never dispatched).
    route_id = models.IntegerField(null=True, verbose_name=_("route id"))
    driver_id = models.IntegerField(null=True, verbose_name=_("driver id"))
    vehicle_kind = models.CharField(max_length=16, blank=True, verbose_name=_("vehicle kind"))
    has_window = models.BooleanField(default=False, verbose_name=_("has window"))
    window_end = models.DateTimeField(null=True, verbose_name=_("window end"))
    promised_eta = models.DateTimeField(
        null=True, help_text=_("Stop.eta of the dispatched plan"), verbose_name=_("promised eta")
    )
    # The arrival of the last attempt: its 'arrived' change, or the 'failed' change when the driver
    # failed without recording an arrival.
    arrived_at = models.DateTimeField(null=True, verbose_name=_("arrived at"))
    delivered_at = models.DateTimeField(null=True, verbose_name=_("delivered at"))
    attempted = models.BooleanField(
        default=False, help_text=_("Delivered or failed at least once"), verbose_name=_("attempted")
    )
    delivered = models.BooleanField(default=False, verbose_name=_("delivered"))
    failed_attempts = models.PositiveIntegerField(default=0, verbose_name=_("failed attempts"))
    first_attempt_success = models.BooleanField(default=False, verbose_name=_("first attempt success"))
    last_failure_reason = models.CharField(max_length=64, blank=True, verbose_name=_("last failure reason"))
    on_time = models.BooleanField(
        null=True, help_text=_("Arrival inside the window; null without window or arrival"), verbose_name=_("on time")
    )
    delay_s = models.IntegerField(
        null=True, help_text=_("Seconds after window end (0 when not late)"), verbose_name=_("delay s")
    )
    eta_error_s = models.IntegerField(
        null=True, help_text=_("|arrival - promised ETA| in seconds"), verbose_name=_("eta error s")
    )
    # This order's equal share of its route (each stop carries 1/n of the route's figures).
    route_cost_share = models.FloatField(null=True, verbose_name=_("route cost share"))
    route_distance_share_m = models.FloatField(null=True, verbose_name=_("route distance share m"))
    route_planned_share_s = models.FloatField(null=True, verbose_name=_("route planned share s"))
    route_actual_share_s = models.FloatField(null=True, verbose_name=_("route actual share s"))

    class Meta:
        verbose_name = _("order fact")
        verbose_name_plural = _("order facts")
        indexes = [
            # Every KPI query is a date range, optionally one depot: (date, depot_id) serves both.
            models.Index(fields=["date", "depot_id"], name="order_fact_date_depot"),
            # The page's p90 counts (analytics.selectors._value_counts) read this index alone: every
            # column they filter on or count is in it. A separate index, because widening the one
            # above made PostgreSQL scan the whole table for the other queries instead.
            # PostgreSQL only: Django leaves INCLUDE out on SQLite.
            models.Index(
                fields=["date", "depot_id"],
                name="order_fact_p90_counts",
                include=["driver_id", "zone_id", "vehicle_kind", "delay_s", "eta_error_s"],
            ),
        ]

    def __str__(self):
        return f"Facts of order {self.order_id}"


class ArrivalEta(models.Model):
    """The ETAs an order had at the moment its driver arrived, kept for the ETA accuracy figures
    (analytics.eta_accuracy): Stop.live_eta is overwritten by the next live recompute (an arrived
    stop's live ETA becomes its arrival), so the live ETA the customer saw is lost unless it is kept
    then. One row per order: its last attempt's arrival (analytics.services.arrival_eta_record)."""

    order = models.OneToOneField(
        Order, on_delete=models.CASCADE, primary_key=True, related_name="arrival_eta", verbose_name=_("order")
    )
    date = models.DateField(verbose_name=_("date"))
    arrived_at = models.DateTimeField(verbose_name=_("arrived at"))
    planned_eta = models.DateTimeField(
        null=True, help_text=_("Stop.eta of the dispatched plan"), verbose_name=_("planned eta")
    )
    live_eta = models.DateTimeField(
        null=True, help_text=_("The last live ETA before the arrival"), verbose_name=_("live eta")
    )
    live_eta_at = models.DateTimeField(null=True, help_text=_("When that live ETA was computed"),
                                       verbose_name=_("live eta computed at"))  # fmt: skip

    class Meta:
        verbose_name = _("ETA at arrival")
        verbose_name_plural = _("ETAs at arrival")
        indexes = [models.Index(fields=["date"], name="arrival_eta_date")]

    def __str__(self):
        return f"ETAs of order {self.order_id} at arrival"
