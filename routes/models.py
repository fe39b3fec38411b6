"""Road closures, traffic speed profiles and the record of the loaded road network.

Geometries are GeoJSON in (lon, lat) order; times are aware datetimes.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from routes.network.closure_geometry import validate_closure_geometry


class RoadNetworkBuild(models.Model):
    """One preparation of an OSM extract; every process loads the active one from `path`."""

    source = models.CharField(
        max_length=255, help_text=_("The .osm.pbf file it was built from"), verbose_name=_("source")
    )
    path = models.CharField(max_length=255, help_text=_("Directory of the prepared network"), verbose_name=_("path"))
    built_at = models.DateTimeField(default=timezone.now, verbose_name=_("built at"))
    summary = models.JSONField(default=dict, blank=True, verbose_name=_("summary"))
    active = models.BooleanField(default=True, verbose_name=_("active"))

    class Meta:
        verbose_name = _("road network build")
        verbose_name_plural = _("road network builds")
        ordering = ["-built_at"]

    def __str__(self):
        return f"{self.source} ({self.built_at:%Y-%m-%d %H:%M})"


class RoadClosureQuerySet(models.QuerySet):
    def active_at(self, moment):
        return self.filter(lifted_at__isnull=True, starts_at__lte=moment).filter(
            Q(ends_at__isnull=True) | Q(ends_at__gt=moment)
        )


class RoadClosure(models.Model):
    """A stretch of road that cannot be used while the closure is active.

    `version` rises with every change (geometry, times, lifting) so that re-planning work can be
    made idempotent on (closure, version).
    """

    geometry = models.JSONField(
        help_text=_("GeoJSON LineString or Polygon, [lon, lat] positions"), verbose_name=_("geometry")
    )
    starts_at = models.DateTimeField(default=timezone.now, verbose_name=_("starts at"))
    ends_at = models.DateTimeField(null=True, blank=True, help_text=_("Empty: until lifted"), verbose_name=_("ends at"))
    reason = models.CharField(max_length=255, verbose_name=_("reason"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    lifted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("lifted at"))
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("lifted by"),
    )
    version = models.PositiveIntegerField(default=1, verbose_name=_("version"))

    objects = RoadClosureQuerySet.as_manager()

    class Meta:
        verbose_name = _("road closure")
        verbose_name_plural = _("road closures")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")), name="closure_ends_after_start"
            )
        ]

    def __str__(self):
        return f"Closure {self.pk}: {self.reason}"

    def clean(self):
        try:
            validate_closure_geometry(self.geometry)
        except ValueError as exc:
            raise ValidationError({"geometry": str(exc)}) from None

    def is_active(self, moment=None) -> bool:
        moment = moment or timezone.now()
        return self.lifted_at is None and self.starts_at <= moment and (self.ends_at is None or self.ends_at > moment)


class TrafficProfile(models.Model):
    """Hourly speed factors for a road class: 0.6 at 08 h means 60 % of free-flow speed then."""

    class DayType(models.TextChoices):
        WEEKDAY = "weekday", _("Monday–Friday")
        WEEKEND = "weekend", _("Saturday and Sunday")

    road_class = models.CharField(
        max_length=32, help_text=_("OSM highway class, e.g. primary, residential"), verbose_name=_("road class")
    )
    day_type = models.CharField(
        max_length=8, choices=DayType.choices, default=DayType.WEEKDAY, verbose_name=_("day type")
    )
    hourly_factors = models.JSONField(
        help_text=_("24 numbers, one per local hour 00–23, each between 0.05 and 1.5"), verbose_name=_("hourly factors")
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("traffic profile")
        verbose_name_plural = _("traffic profiles")
        ordering = ["day_type", "road_class"]
        constraints = [models.UniqueConstraint(fields=["road_class", "day_type"], name="traffic_profile_unique")]

    def __str__(self):
        return f"{self.road_class} ({self.get_day_type_display()})"

    def clean(self):
        factors = self.hourly_factors
        if not isinstance(factors, list) or len(factors) != 24:
            raise ValidationError({"hourly_factors": "give exactly 24 numbers, one per hour"})
        for hour, value in enumerate(factors):
            if not isinstance(value, (int, float)) or not 0.05 <= value <= 1.5:
                raise ValidationError(
                    {"hourly_factors": f"hour {hour:02d}: {value!r} is not a number from 0.05 to 1.5"}
                )


class Plan(models.Model):
    """One version of a day's routes for a depot (or for every depot the requester sees).

    A plan is computed by a Celery task (status/stage/progress tell the dispatcher where it is) and
    saved whole. Once dispatched it never changes: edits, re-planning and closures create a new
    version whose `parent` is the plan it replaces, with who, when and why recorded.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class State(models.TextChoices):
        # Only re-plans the system made by itself (closures) can be proposals; every other version is "active".
        ACTIVE = "active", _("Active")
        PROPOSED = "proposed", _("Proposed: waiting for a dispatcher")
        REJECTED = "rejected", _("Rejected: the running version stayed")
        EXPIRED = "expired", _("Expired: not decided in time, the running version stayed")
        SUPERSEDED = "superseded", _("Superseded by a newer version before a decision")

    class Objective(models.TextChoices):
        COST = "cost", _("Lowest cost")
        BALANCED = "balanced", _("Balanced workload")
        FEWEST_VEHICLES = "fewest_vehicles", _("Fewest vehicles")

    date = models.DateField(db_index=True, verbose_name=_("date"))
    depot = models.ForeignKey(
        "dispatch.Depot", on_delete=models.PROTECT, null=True, blank=True, related_name="plans", verbose_name=_("depot")
    )
    version = models.PositiveIntegerField(verbose_name=_("version"))
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children", verbose_name=_("parent")
    )
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True, verbose_name=_("status")
    )
    stage = models.CharField(
        max_length=64, default="queued", help_text=_("What the optimization is doing now"), verbose_name=_("stage")
    )
    progress = models.PositiveSmallIntegerField(default=0, help_text=_("0-100"), verbose_name=_("progress"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    objective = models.CharField(
        max_length=16, choices=Objective.choices, default=Objective.COST, verbose_name=_("objective")
    )
    request = models.JSONField(
        default=dict, blank=True, help_text=_("What was asked: vehicles, options"), verbose_name=_("request")
    )
    reason = models.CharField(
        max_length=255, default="optimized", help_text=_("Why this version exists"), verbose_name=_("reason")
    )
    alternative_group = models.UUIDField(null=True, blank=True, db_index=True, verbose_name=_("alternative group"))
    selected = models.BooleanField(
        default=True, help_text=_("False for alternatives the dispatcher did not pick"), verbose_name=_("selected")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    dispatched_at = models.DateTimeField(null=True, blank=True, verbose_name=_("dispatched at"))
    dispatched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("dispatched by"),
    )
    # Totals, filled when done (metres, seconds, money in the company's currency).
    distance_m = models.PositiveIntegerField(default=0, verbose_name=_("distance m"))
    duration_s = models.PositiveIntegerField(default=0, verbose_name=_("duration s"))
    cost = models.DecimalField(max_digits=12, decimal_places=2, default=0, verbose_name=_("cost"))
    vehicles_used = models.PositiveSmallIntegerField(default=0, verbose_name=_("vehicles used"))
    unassigned_count = models.PositiveIntegerField(default=0, verbose_name=_("unassigned count"))
    lateness_s = models.PositiveIntegerField(default=0, verbose_name=_("lateness s"))
    longest_route_s = models.PositiveIntegerField(default=0, verbose_name=_("longest route s"))
    solver = models.CharField(max_length=64, blank=True, verbose_name=_("solver"))
    solve_seconds = models.FloatField(null=True, blank=True, verbose_name=_("solve seconds"))
    # A re-plan the system made that a guard rail held back (routes.plans.proposals): what it would
    # change against the running version, and when it expires if nobody approves it.
    state = models.CharField(
        max_length=12, choices=State.choices, default=State.ACTIVE, db_index=True, verbose_name=_("state")
    )
    proposal = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("What this version changes: moved, dropped, ETA shifts, cost, why held"),
        verbose_name=_("proposal"),
    )
    decide_by = models.DateTimeField(
        null=True, blank=True, help_text=_("A proposal not approved by then expires"), verbose_name=_("decide by")
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    travel_model_version = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("The learned travel model its times came from; empty: the road network's default speeds"),
        verbose_name=_("travel model version"),
    )
    # Make or buy (routes.plans.partners): the orders the optimizer gives courier partners instead of our
    # routes, {"handoffs": [{"partner": code, "orders": [order ids], "cost": "12.30"}], "own_fleet": {"cost",
    # "served"}, "with_partners": {"cost", "served"}} (the same day solved without partners, to compare).
    # The hand-offs become dispatch.Handoff rows when the plan is dispatched; until then they are its
    # proposal, like its routes. Empty: planned without partners.
    make_or_buy = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("Orders for courier partners (handed over on dispatch) and the own-fleet comparison"),
        verbose_name=_("make or buy"),
    )

    class Meta:
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        ordering = ["-date", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["date", "depot", "version"], name="plan_version_unique"),
            # Plans over every depot have no depot; NULLs never collide, so they need their own rule.
            models.UniqueConstraint(
                fields=["date", "version"], condition=Q(depot__isnull=True), name="plan_all_depots_version_unique"
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="plan_progress_0_100"),
        ]
        indexes = [models.Index(fields=["date", "depot", "-version"], name="plan_day_latest")]

    def __str__(self):
        return f"Plan {self.date} {self.depot.code if self.depot else 'all'} v{self.version}"

    @property
    def is_dispatched(self) -> bool:
        return self.dispatched_at is not None

    @property
    def planned_at(self):
        """The moment the plan was planned from: when it was computed (or a simulator's clock)."""
        from django.utils.dateparse import parse_datetime

        moment = ((self.request or {}).get("planned_from") or {}).get("now")
        return parse_datetime(moment) if moment else None

    @property
    def vehicles_not_used(self) -> list[dict]:
        """[{"vehicle", "name", "reason"}]: vehicles the plan could not use, e.g. "shift ended at 18:00"."""
        return list(((self.request or {}).get("planned_from") or {}).get("vehicles_not_used") or [])


class Route(models.Model):
    """One vehicle's tour in a plan. `geometry` is the road path as a GeoJSON LineString."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="routes", verbose_name=_("plan"))
    vehicle = models.ForeignKey(
        "dispatch.Vehicle", on_delete=models.PROTECT, related_name="routes", verbose_name=_("vehicle")
    )
    driver = models.ForeignKey(
        "dispatch.Driver",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="routes",
        verbose_name=_("driver"),
    )
    distance_m = models.PositiveIntegerField(default=0, verbose_name=_("distance m"))
    duration_s = models.PositiveIntegerField(
        default=0, help_text=_("From leaving the depot to returning"), verbose_name=_("duration s")
    )
    driving_s = models.PositiveIntegerField(default=0, verbose_name=_("driving s"))
    cost = models.DecimalField(max_digits=10, decimal_places=2, default=0, verbose_name=_("cost"))
    start = models.DateTimeField(null=True, blank=True, verbose_name=_("start"))
    end = models.DateTimeField(null=True, blank=True, verbose_name=_("end"))
    geometry = models.JSONField(default=dict, blank=True, verbose_name=_("geometry"))
    load_kg = models.DecimalField(max_digits=9, decimal_places=2, default=0, verbose_name=_("load kg"))
    load_items = models.PositiveIntegerField(default=0, verbose_name=_("load items"))
    locked = models.BooleanField(
        default=False, help_text=_("Re-optimization keeps this route as it is"), verbose_name=_("locked")
    )
    warnings = models.JSONField(default=list, blank=True, verbose_name=_("warnings"))
    breaks = models.JSONField(
        default=list, blank=True, help_text=_('[{"after_sequence", "start", "duration_s"}]'), verbose_name=_("breaks")
    )
    # Multi-trip vehicles: the trips end where the vehicle reloads (its depot or a micro-hub).
    reloads = models.JSONField(
        default=list,
        blank=True,
        help_text=_('[{"after_sequence", "depot_id", "arrival", "departure", "leg_duration_s", "leg_distance_m"}]'),
        verbose_name=_("reloads"),
    )

    class Meta:
        verbose_name = _("route")
        verbose_name_plural = _("routes")
        ordering = ["plan", "vehicle__name"]
        constraints = [models.UniqueConstraint(fields=["plan", "vehicle"], name="route_one_per_vehicle")]

    def __str__(self):
        return f"{self.vehicle} in {self.plan}"


class Stop(models.Model):
    """An order's place in a route: its sequence and the times the plan promises."""

    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="stops", verbose_name=_("route"))
    order = models.ForeignKey("dispatch.Order", on_delete=models.PROTECT, related_name="stops", verbose_name=_("order"))
    sequence = models.PositiveIntegerField(verbose_name=_("sequence"))
    eta = models.DateTimeField(help_text=_("Arrival"), verbose_name=_("eta"))
    etd = models.DateTimeField(help_text=_("Departure after service"), verbose_name=_("etd"))
    waiting_s = models.PositiveIntegerField(default=0, verbose_name=_("waiting s"))
    service_s = models.PositiveIntegerField(default=0, verbose_name=_("service s"))
    leg_distance_m = models.PositiveIntegerField(default=0, verbose_name=_("leg distance m"))
    leg_duration_s = models.PositiveIntegerField(default=0, verbose_name=_("leg duration s"))
    # The learner's count of the leg's junctions (routes.learning.junctions): the default seconds per
    # junction class (JUNCTION_CLASSES order) of the leg routed again the first night after it was
    # driven, null before (or while it cannot be routed as planned). Kept so that the week's nights
    # route each leg once, with the network closest to the one that planned it.
    leg_junctions = models.JSONField(null=True, blank=True, editable=False, verbose_name=_("leg junctions"))
    late_s = models.PositiveIntegerField(default=0, verbose_name=_("late s"))
    pinned = models.BooleanField(
        default=False, help_text=_("Stays on this vehicle when re-optimized"), verbose_name=_("pinned")
    )
    warnings = models.JSONField(default=list, blank=True, verbose_name=_("warnings"))
    # Operational, not part of the plan: the ETA as the driver's positions come in.
    live_eta = models.DateTimeField(null=True, blank=True, verbose_name=_("live eta"))
    live_eta_updated_at = models.DateTimeField(null=True, blank=True, verbose_name=_("live eta updated at"))
    # The live ETA held about an hour before the arrival (the first one computed 45-60 minutes ahead,
    # dispatch.live.eta): live_eta is overwritten every refresh, and the ETA accuracy figures measure
    # this horizon too (analytics.eta_accuracy).
    hour_before_eta = models.DateTimeField(
        null=True, blank=True, help_text=_("The live ETA about an hour before the arrival"),
        verbose_name=_("eta an hour before"),
    )  # fmt: skip
    hour_before_eta_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When that live ETA was computed"),
        verbose_name=_("eta an hour before computed at"),
    )  # fmt: skip

    class Meta:
        verbose_name = _("stop")
        verbose_name_plural = _("stops")
        ordering = ["route", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["route", "sequence"], name="stop_sequence_unique"),
            models.UniqueConstraint(fields=["route", "order"], name="stop_order_once_per_route"),
            models.CheckConstraint(condition=Q(etd__gte=F("eta")), name="stop_leaves_after_arriving"),
        ]

    def __str__(self):
        return f"{self.sequence}. {self.order}"


class UnassignedOrder(models.Model):
    """An order a plan could not serve, with the reason in a dispatcher's words."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="unassigned", verbose_name=_("plan"))
    order = models.ForeignKey("dispatch.Order", on_delete=models.PROTECT, related_name="+", verbose_name=_("order"))
    reason = models.CharField(max_length=255, verbose_name=_("reason"))
    code = models.CharField(
        max_length=32, blank=True, help_text=_("skills, capacity, window, road, no_room, ..."), verbose_name=_("code")
    )

    class Meta:
        verbose_name = _("unassigned order")
        verbose_name_plural = _("unassigned orders")
        ordering = ["plan", "order__reference"]
        constraints = [models.UniqueConstraint(fields=["plan", "order"], name="unassigned_once_per_plan")]

    def __str__(self):
        return f"{self.order}: {self.reason}"


class PlanChange(models.Model):
    """A dispatcher's edit of a plan that was not yet dispatched: who, when, why and what."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="changes", verbose_name=_("plan"))
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )
    changed_at = models.DateTimeField(auto_now_add=True, verbose_name=_("changed at"))
    reason = models.CharField(max_length=255, blank=True, verbose_name=_("reason"))
    operations = models.JSONField(default=list, verbose_name=_("operations"))

    class Meta:
        verbose_name = _("plan change")
        verbose_name_plural = _("plan changes")
        ordering = ["plan", "changed_at"]

    def __str__(self):
        return f"Change of plan {self.plan_id} at {self.changed_at:%H:%M}"


class ClosureApplication(models.Model):
    """One run of re-planning for one state of a closure: the task is idempotent on (closure, version)."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    closure = models.ForeignKey(
        RoadClosure, on_delete=models.CASCADE, related_name="applications", verbose_name=_("closure")
    )
    version = models.PositiveIntegerField(verbose_name=_("version"))
    phase = models.CharField(
        max_length=8,
        default="change",
        help_text=_("change (created, edited, lifted), start or end"),
        verbose_name=_("phase"),
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING, verbose_name=_("status"))
    started_at = models.DateTimeField(auto_now_add=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    checked_plans = models.JSONField(default=list, blank=True, verbose_name=_("checked plans"))
    new_plans = models.JSONField(
        default=list, blank=True, help_text=_("Ids of the re-plans it created"), verbose_name=_("new plans")
    )
    attempts = models.PositiveSmallIntegerField(default=1, verbose_name=_("attempts"))
    error = models.TextField(blank=True, verbose_name=_("error"))

    class Meta:
        verbose_name = _("closure application")
        verbose_name_plural = _("closure applications")
        ordering = ["-started_at"]
        constraints = [models.UniqueConstraint(fields=["closure", "version", "phase"], name="closure_application_once")]

    def __str__(self):
        return f"Closure {self.closure_id} v{self.version}: {self.status}"


def _default_slot_weekdays() -> list[int]:
    # Monday to Saturday: a customer who works weekdays can take Saturday (0 = Monday, 6 = Sunday).
    return [0, 1, 2, 3, 4, 5]


class SlotPolicy(models.Model):
    """What a depot offers customers who choose their own delivery window (routes.slots).

    Without a row the defaults below apply (routes.slots.grid.policy_for). The grid runs from
    `first_slot_start` (or the depot's opening) in steps of `slot_minutes` up to `last_slot_end` (or
    its closing), in the company's local time.
    """

    depot = models.OneToOneField(
        "dispatch.Depot", on_delete=models.CASCADE, related_name="slot_policy", verbose_name=_("depot")
    )
    slot_minutes = models.PositiveSmallIntegerField(
        default=120,
        validators=[MinValueValidator(15), MaxValueValidator(720)],
        help_text=_("Length of each delivery window offered (minutes), e.g. 60 or 120"),
        verbose_name=_("slot minutes"),
    )
    first_slot_start = models.TimeField(
        null=True, blank=True, help_text=_("Empty: when the depot opens"), verbose_name=_("first slot start")
    )
    last_slot_end = models.TimeField(
        null=True, blank=True, help_text=_("Empty: when the depot closes"), verbose_name=_("last slot end")
    )
    weekdays = models.JSONField(
        default=_default_slot_weekdays,
        blank=True,
        help_text=_("Days offered, 0 = Monday … 6 = Sunday"),
        verbose_name=_("weekdays"),
    )
    hidden_slots = models.JSONField(
        default=list, blank=True, help_text=_('Slot starts not offered, e.g. ["07:00"]'), verbose_name=_("hidden slots")
    )
    days_ahead = models.PositiveSmallIntegerField(
        default=14,
        validators=[MaxValueValidator(120)],
        help_text=_("How many days ahead customers may book"),
        verbose_name=_("days ahead"),
    )
    lead_minutes = models.PositiveIntegerField(
        default=120,
        help_text=_("A window closes for booking this many minutes before it starts"),
        verbose_name=_("lead minutes"),
    )
    day_before_cutoff = models.TimeField(
        null=True,
        blank=True,
        help_text=_("If set: a day's windows close at this time on the day before (e.g. 18:00)"),
        verbose_name=_("day before cutoff"),
    )
    max_share_percent = models.PositiveSmallIntegerField(
        default=40,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("No window takes more than this share of the day's stops"),
        verbose_name=_("max share percent"),
    )
    stops_per_vehicle_hour = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        default=6,
        validators=[MinValueValidator(0.5)],
        help_text=_("Stops one vehicle serves in an hour (driving and service), for a window's capacity"),
        verbose_name=_("stops per vehicle hour"),
    )
    self_service = models.BooleanField(
        default=True,
        help_text=_("Customers may move their delivery themselves on the tracking page"),
        verbose_name=_("self service"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("slot policy")
        verbose_name_plural = _("slot policies")
        constraints = [
            models.CheckConstraint(condition=Q(slot_minutes__gte=15), name="slot_policy_minutes_min"),
            models.CheckConstraint(
                condition=Q(max_share_percent__gte=1, max_share_percent__lte=100), name="slot_policy_share_1_100"
            ),
        ]

    def __str__(self):
        return f"Slots of {self.depot}"

    def clean(self):
        weekdays = self.weekdays
        if not isinstance(weekdays, list) or any(not isinstance(d, int) or not 0 <= d <= 6 for d in weekdays):
            raise ValidationError({"weekdays": f"give days as numbers 0 (Monday) to 6 (Sunday), not {weekdays!r}"})
        hidden = self.hidden_slots
        if not isinstance(hidden, list) or any(not isinstance(s, str) or len(s) != 5 or s[2] != ":" for s in hidden):
            raise ValidationError({"hidden_slots": f'give slot starts as "HH:MM" strings, not {hidden!r}'})
        if self.first_slot_start and self.last_slot_end and self.first_slot_start >= self.last_slot_end:
            raise ValidationError({"last_slot_end": "the last window must end after the first starts"})


class SlotBookingDay(models.Model):
    """One row per depot and day that bookings lock (routes.slots.services.slot_hold): two customers
    asking for the last place of a window wait for each other instead of both getting it."""

    depot = models.ForeignKey("dispatch.Depot", on_delete=models.CASCADE, related_name="+", verbose_name=_("depot"))
    date = models.DateField(verbose_name=_("date"))
    bookings = models.PositiveIntegerField(
        default=0, help_text=_("Bookings and moves made through slots"), verbose_name=_("bookings")
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("slot booking day")
        verbose_name_plural = _("slot booking days")
        constraints = [models.UniqueConstraint(fields=["depot", "date"], name="slot_booking_day_once")]

    def __str__(self):
        return f"{self.depot_id} {self.date}: {self.bookings}"


class TravelModel(models.Model):
    """One version of what the fleet's own driving taught: speeds per road stretch and hour, and the
    time at the doorstep (routes.learning). Exactly one version is active at a time, or none (then
    the road network's default speeds and the orders' own service minutes apply); every process
    switches to a new active version on its next use of the road network (routes.road_network).

    The speeds are a compressed numpy archive in the row (``speeds``: one factor per day type, hour and
    road stretch of each profile, float16, about 1 MB for the demo region), so that a worker on another
    host reads the same version as the web process; the doorstep tables are ``parameters``.
    """

    version = models.PositiveIntegerField(unique=True, verbose_name=_("version"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    trained_from = models.DateField(null=True, blank=True, verbose_name=_("trained from"))
    trained_to = models.DateField(null=True, blank=True, verbose_name=_("trained to"))
    held_out_day = models.DateField(
        null=True, blank=True, help_text=_("The day its score was measured on"), verbose_name=_("held-out day")
    )
    score = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("Leg-time errors on the held-out day (seconds): this version's and the one active then"),
        verbose_name=_("score"),
    )
    active = models.BooleanField(default=False, db_index=True, verbose_name=_("active"))
    activated_at = models.DateTimeField(null=True, blank=True, verbose_name=_("activated at"))
    network_path = models.CharField(
        max_length=255, blank=True, help_text=_("The road network build it was learned on"), verbose_name=_("network")
    )
    speeds = models.BinaryField(
        blank=True,
        default=b"",
        help_text=_("Learned speed factors per profile, day type, hour and road stretch (compressed numpy)"),
        verbose_name=_("speeds"),
    )
    parameters = models.JSONField(
        default=dict, blank=True, help_text=_("Doorstep times and learning statistics"), verbose_name=_("parameters")
    )
    note = models.CharField(max_length=255, blank=True, verbose_name=_("note"))

    class Meta:
        verbose_name = _("travel model")
        verbose_name_plural = _("travel models")
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=Q(active=True), name="travel_model_one_active")
        ]

    def __str__(self):
        return f"v{self.version}" + (" (active)" if self.active else "")


class PlanPart(models.Model):
    """One region of a big day planned in parts (routes.plans.splitting): its stops and vehicles as a
    problem of its own, solved by a task of its own, and its answer, until the parts are merged."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="parts", verbose_name=_("plan"))
    index = models.PositiveSmallIntegerField(verbose_name=_("index"))
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.WAITING, verbose_name=_("status"))
    job_ids = models.JSONField(default=list, verbose_name=_("orders"))
    vehicle_ids = models.JSONField(default=list, verbose_name=_("vehicles"))
    problem = models.BinaryField(
        help_text=_("The region as an optimizer problem (JSON and .npz)"), verbose_name=_("problem")
    )
    time_budget_s = models.FloatField(verbose_name=_("time budget (s)"))
    planned_from = models.DateTimeField(
        null=True, blank=True, help_text=_("The moment the whole day is planned from"), verbose_name=_("planned from")
    )
    sequences = models.JSONField(null=True, blank=True, help_text=_("The region's routes"), verbose_name=_("routes"))
    solver = models.CharField(max_length=64, blank=True, verbose_name=_("solver"))
    cost = models.FloatField(null=True, blank=True, verbose_name=_("cost"))
    unassigned = models.PositiveIntegerField(default=0, verbose_name=_("unassigned"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    solve_seconds = models.FloatField(null=True, blank=True, verbose_name=_("solve seconds"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        verbose_name = _("plan part")
        verbose_name_plural = _("plan parts")
        ordering = ["plan", "index"]
        constraints = [models.UniqueConstraint(fields=["plan", "index"], name="plan_part_unique_index")]

    def __str__(self):
        return f"plan {self.plan_id} part {self.index}"
