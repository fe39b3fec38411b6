"""Big days planned in parts across the Celery workers: split, solve the regions in parallel, merge,
mend the borders, save (issue 19; the cutting and merging is routes.optimizer.split).

Each step is a task on the plans queue, so the regions of one day spread over every worker process
consuming it, on as many machines as share the Redis and PostgreSQL:

1. ``optimize_plan`` finds a day of at least PLAN_SPLIT_MIN_ORDERS orders (or a request with
   "split") and calls ``plan_split_start``: the day's inputs (road matrices) are built once, cut
   into regions, and each region is stored as a PlanPart row with its own small problem; then one
   ``solve_plan_part`` task per region is queued (a group) and a check at the deadline.
2. ``plan_part_solve`` solves one region and stores its routes. The task that stores the last part
   queues the merge, once: a conditional update of the plan's stage claims it. This is a chord with
   the database as its barrier: no result backend is needed, and a region task run twice (a worker
   killed after solving, the message redelivered) is stored and counted once, where a Celery
   chord's counter would count it twice and could fire the merge early.
3. ``plan_parts_merge`` builds the day's inputs again, from the same moment (the road matrices read
   back from where the split kept them, routes.plans.kept_matrices, when on the same machine),
   merges the parts, mends the borders within what is left of the budget, and saves like a single
   solve (atomic, a done plan is never saved again).

The budget (PLAN_SPLIT_TIME_BUDGET_S or the request's time_budget_s) is the day's wall time from
the split's start to the saving, matrices included: a dispatcher waits for a big day as a whole.

A worker killed mid-region: acks_late and reject_on_worker_lost put the message back and another
worker process solves the region. A part lost for good (a machine gone while the broker's
visibility timeout runs) is caught by ``plan_parts_check`` at the deadline: the plan fails and
says which regions did not come back, it never stays "running".

Embedded mode: the same tasks run one after another on the plans queue's thread (inline in the
tests); the regions' budgets are then shares of the total, as with one worker process.
"""

import logging
import math
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from config import faults, metrics
from config.tasks import enqueue
from routes import optimizer
from routes.models import Plan, PlanPart
from routes.optimizer import split
from routes.plans import kept_matrices
from routes.plans.optimization import (
    failure_text,
    plan_clock,
    plan_fail,
    plan_inputs,
    plan_orders,
    plan_save_solution,
    set_progress,
)
from routes.road_network import get_road_network

logger = logging.getLogger(__name__)

# Plan.stage while a big day is in parts (labels: routes.plans.views.STAGE_LABELS).
STAGE_REGIONS = "solving regions"
STAGE_BORDERS = "improving across borders"
FINISHED = (Plan.Status.DONE, Plan.Status.FAILED)


def plan_is_big(plan: Plan) -> bool:
    """Planned in parts? The request decides when it says ("split": true/false), else the size."""
    choice = (plan.request or {}).get("split")
    if choice is not None:
        return bool(choice)
    return len(plan_orders(plan)) >= settings.PLAN_SPLIT_MIN_ORDERS


def total_budget_s(plan: Plan) -> float:
    return float((plan.request or {}).get("time_budget_s") or settings.PLAN_SPLIT_TIME_BUDGET_S)


def parallel_solves() -> int:
    """Region solves running at once: one in the embedded mode (one thread per queue)."""
    return 1 if settings.CELERY_TASK_ALWAYS_EAGER else max(1, settings.PLAN_SPLIT_WORKERS)


def region_size(n_jobs: int, parallel: int) -> float:
    """Regions of about PLAN_SPLIT_REGION_ORDERS stops, as many as fill the rounds of `parallel`
    solves: 15 regions on 2 workers leave one idle for the last round, 16 a little smaller do not."""
    count = split.region_count(n_jobs, settings.PLAN_SPLIT_REGION_ORDERS)
    if count <= 1 or parallel <= 1:
        return settings.PLAN_SPLIT_REGION_ORDERS
    return n_jobs / (math.ceil(count / parallel) * parallel)


def deadline_s(plan: Plan) -> float:
    return settings.PLAN_SPLIT_DEADLINE_S or 2 * total_budget_s(plan) + 600


def plan_split_start(*, plan_id: int) -> Plan:
    """Cut the plan's day into regions, store them and queue their solves; idempotent (a started
    split queues again only its parts not done, for a redelivered start)."""
    plan = Plan.objects.select_related("depot", "parent").get(pk=plan_id)
    if plan.status in FINISHED:
        return plan
    if plan.parts.exists():
        waiting = list(plan.parts.exclude(status=PlanPart.Status.DONE).values_list("index", flat=True))
        _queue_parts(plan_id, waiting)
        if not waiting:  # every region is back: the merge may have been lost with a killed worker
            enqueue("routes.tasks.merge_plan_parts", plan_id)
        return plan
    started = time.monotonic()
    Plan.objects.filter(pk=plan_id).update(started_at=timezone.now())
    try:
        set_progress(plan_id, stage="computing travel times", progress=10)
        now = plan_clock(plan)
        kept_matrices.sweep_stale()
        # The merge builds the same inputs again: it reads these matrices back instead of computing them.
        network = kept_matrices.KeptMatrices(get_road_network(), plan_id)
        inputs, _pinned, _routes = plan_inputs(plan, network=network, now=now)
        problem = inputs.problem
        optimizer.validate(problem)
        regions = split.split_day(problem, inputs.points, region_jobs=region_size(len(problem.jobs), parallel_solves()))
        # A big day's budget is its wall time up to the saving: the matrices took their part of it.
        total = total_budget_s(plan)
        search_s = max(total / 2, total - (time.monotonic() - started))
        per_region_s, _border_s = split.budgets(
            search_s, len(regions), parallel_solves(), settings.PLAN_SPLIT_BORDER_SHARE
        )
        parts = [
            PlanPart(
                plan_id=plan_id,
                index=region.index,
                job_ids=list(region.job_ids),
                vehicle_ids=list(region.vehicle_ids),
                problem=split.encode_problem(split.sub_problem(problem, region.job_ids, region.vehicle_ids)),
                time_budget_s=round(per_region_s, 1),
                planned_from=now,
            )
            for region in regions
        ]
        with transaction.atomic():
            if Plan.objects.select_for_update().get(pk=plan_id).parts.exists():
                return plan  # another run of this start stored them first and queued them
            PlanPart.objects.bulk_create(parts)
            _set_stage(plan_id, STAGE_REGIONS, 30)
            transaction.on_commit(lambda: _queue_parts(plan_id, [p.index for p in parts], check=True))
        logger.info(
            "plan %s: %s orders in %s regions, %.0f s each (travel times and cutting took %.1f s)",
            plan_id, len(problem.jobs), len(parts), per_region_s, time.monotonic() - started,
        )  # fmt: skip
        return plan
    except Exception as exc:
        logger.exception("plan %s failed while splitting", plan_id)
        plan_fail(plan_id=plan_id, reason=failure_text(exc))
        kept_matrices.forget(plan_id)
        raise


def _queue_parts(plan_id: int, indexes: list[int], *, check: bool = False) -> None:
    for index in indexes:
        enqueue("routes.tasks.solve_plan_part", plan_id, index)
    if check:
        plan = Plan.objects.get(pk=plan_id)
        enqueue("routes.tasks.check_plan_parts", plan_id, eta=timezone.now() + timedelta(seconds=deadline_s(plan)))


def _set_stage(plan_id: int, stage: str, progress: int, *, only_from: tuple[str, ...] = ()) -> int:
    """A conditional stage change (only a running plan, only from `only_from` when given): returns
    1 for the one caller that made it, so it also claims the step that follows."""
    rows = Plan.objects.filter(pk=plan_id, status__in=[Plan.Status.QUEUED, Plan.Status.RUNNING])
    if only_from:
        rows = rows.filter(stage__in=only_from)
    changed = rows.update(status=Plan.Status.RUNNING, stage=stage, progress=progress)
    if changed:
        metrics.plan_stage(plan_id, stage)
    return changed


def plan_part_solve(*, plan_id: int, index: int) -> None:
    """Solve one region and store its routes; the last part stored queues the merge. Idempotent:
    a part already stored is not solved again, a duplicate's answer is not stored twice."""
    part = PlanPart.objects.select_related("plan").filter(plan_id=plan_id, index=index).first()
    if part is None or part.plan.status in FINISHED:
        return
    if part.status == PlanPart.Status.DONE:
        # A redelivery after the region was stored: the worker may have died before it queued the
        # merge, which would leave the plan waiting on its regions until the deadline.
        _merge_when_every_part_is_done(plan_id)
        return
    PlanPart.objects.filter(pk=part.pk).exclude(status=PlanPart.Status.DONE).update(
        status=PlanPart.Status.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now()
    )
    total = PlanPart.objects.filter(plan_id=plan_id).count()
    try:
        problem = split.decode_problem(part.problem)
        faults.pause("plan.part_solve")  # tests kill the worker here
        started = time.monotonic()
        solution = optimizer.solve(problem, optimizer.SolverSettings(time_budget_s=part.time_budget_s))
        seconds = time.monotonic() - started
    except Exception as exc:
        logger.exception("plan %s: region %s failed", plan_id, index + 1)
        plan_fail(plan_id=plan_id, reason=f"region {index + 1} of {total}: {failure_text(exc)}"[:2000])
        raise
    stored = (
        PlanPart.objects.filter(pk=part.pk)
        .exclude(status=PlanPart.Status.DONE)
        .update(
            status=PlanPart.Status.DONE,
            sequences=split.sequences_to_json(split.sequences_of(solution)),
            solver=solution.solver[:64],
            cost=solution.cost,
            unassigned=len(solution.unassigned),
            solve_seconds=round(seconds, 3),
            finished_at=timezone.now(),
        )
    )
    if not stored:
        return  # a duplicate of this task stored the region first
    _merge_when_every_part_is_done(plan_id)


def _merge_when_every_part_is_done(plan_id: int) -> None:
    """Progress per region stored; once every region is, the merge is queued (once: only the task
    that moves the plan on from the regions' stage queues it)."""
    total = PlanPart.objects.filter(plan_id=plan_id).count()
    done = PlanPart.objects.filter(plan_id=plan_id, status=PlanPart.Status.DONE).count()
    if done < total:
        Plan.objects.filter(pk=plan_id, status=Plan.Status.RUNNING, stage=STAGE_REGIONS).update(
            progress=30 + 50 * done // total
        )
    elif _set_stage(plan_id, STAGE_BORDERS, 80, only_from=(STAGE_REGIONS,)):
        transaction.on_commit(lambda: enqueue("routes.tasks.merge_plan_parts", plan_id))


def plan_parts_merge(*, plan_id: int) -> Plan:
    """Merge the stored regions, mend the borders within the rest of the budget and save the plan.
    Idempotent: a done or failed plan is left alone, a run killed half-way starts over."""
    plan = Plan.objects.select_related("depot", "parent").get(pk=plan_id)
    parts = list(plan.parts.order_by("index"))
    if plan.status in FINISHED or not parts or any(p.status != PlanPart.Status.DONE for p in parts):
        return plan
    try:
        merge_started = time.monotonic()
        network = kept_matrices.KeptMatrices(get_road_network(), plan_id)  # the split's, when on this machine
        inputs, pinned, initial_routes = plan_inputs(plan, network=network, now=parts[0].planned_from)
        inputs_s = time.monotonic() - merge_started
        problem = inputs.problem
        merged = split.merge(problem, [split.sequences_from_json(p.sequences) for p in parts])
        regions = [split.Region(p.index, tuple(p.job_ids), tuple(p.vehicle_ids)) for p in parts]
        # The budget is the day's wall time from the split's start to the saving (matrices included,
        # the saving on top): the borders get what is left of it, at least half their share when a
        # busy queue made the regions late.
        elapsed = (timezone.now() - (plan.started_at or timezone.now())).total_seconds()
        total = total_budget_s(plan)
        border_s = max(total * settings.PLAN_SPLIT_BORDER_SHARE / 2, total - elapsed) if len(parts) > 1 else 0.0
        started = time.monotonic()
        mended, notes = split.improve_borders(
            problem, merged, regions, inputs.points, budget_s=border_s, solve=_solve_for_borders
        )
        solution = optimizer.evaluate(
            problem,
            mended,
            solver=f"split: {len(parts)} regions ({_solvers(parts)})",
            computing_time_s=time.monotonic() - started,
            notes=notes,
        )
        for note in notes:
            logger.info("plan %s %s", plan_id, note)
        set_progress(plan_id, stage="saving", progress=90)
        borders_s = time.monotonic() - started
        solve_seconds = sum(p.solve_seconds or 0 for p in parts) + borders_s
        saved = plan_save_solution(
            plan, network=network, inputs=inputs, solution=solution, pinned=pinned,
            initial_routes=initial_routes, solve_seconds=solve_seconds,
        )  # fmt: skip
        kept_matrices.forget(plan_id)
        logger.info(
            "plan %s merged: inputs %.1f s, borders %.1f s (budget %.0f s), saving %.1f s",
            plan_id, inputs_s, borders_s, border_s, time.monotonic() - started - borders_s,
        )  # fmt: skip
        return saved
    except Exception as exc:
        logger.exception("plan %s failed while merging its regions", plan_id)
        plan_fail(plan_id=plan_id, reason=failure_text(exc))
        kept_matrices.forget(plan_id)
        raise


def _solve_for_borders(problem: optimizer.Problem, budget_s: float):
    return split.sequences_of(optimizer.solve(problem, optimizer.SolverSettings(time_budget_s=budget_s)))


def _solvers(parts: list[PlanPart]) -> str:
    names = sorted({p.solver for p in parts if p.solver})
    return ", ".join(names)[:40]


def plan_parts_check(*, plan_id: int) -> None:
    """The deadline of a plan in parts: if it is not done by now, it fails with what is missing."""
    plan = Plan.objects.filter(pk=plan_id).first()
    if plan is None or plan.status in FINISHED:
        return
    parts = list(plan.parts.order_by("index"))
    missing = [str(p.index + 1) for p in parts if p.status != PlanPart.Status.DONE]
    if missing:
        reason = (
            f"regions {', '.join(missing)} of {len(parts)} were not solved within {deadline_s(plan):.0f} s "
            "(a worker stopped, or the plans queue is too busy); plan the day again"
        )
    else:
        reason = f"merging the {len(parts)} regions did not finish within {deadline_s(plan):.0f} s; plan the day again"
    plan_fail(plan_id=plan_id, reason=reason)
    kept_matrices.forget(plan_id)


def plan_parts_progress(plan: Plan) -> dict | None:
    """For the plan page: {"done", "total", "stage"} while a big day is in parts, else None."""
    if plan.status != Plan.Status.RUNNING or plan.stage not in (STAGE_REGIONS, STAGE_BORDERS):
        return None
    statuses = list(plan.parts.values_list("status", flat=True))
    return {
        "done": sum(1 for s in statuses if s == PlanPart.Status.DONE),
        "total": len(statuses),
        "stage": plan.stage,
    }
