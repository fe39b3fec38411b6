"""Celery tasks of the routes app: thin, idempotent, re-reading their rows by id."""

import logging

from celery import shared_task

from config.tasks import tasks_ahead
from routes.models import Plan
from routes.plans import optimization as planning
from routes.plans import replanning, splitting
from routes.plans.proposals import plan_proposal_expire, proposals_expire_due, proposals_resume

logger = logging.getLogger(__name__)


def plan_queue_position(plan) -> int | None:
    """How many tasks wait ahead of a queued plan in the plans queue (0: it starts next); None once it
    runs, or when the queue cannot be read (the plan page then just says "Waiting to start")."""

    if plan.status != Plan.Status.QUEUED:
        return None
    try:
        return tasks_ahead({optimize_plan.name, replan_plan.name}, plan.pk, kind="plans")
    except Exception:  # noqa: BLE001 - a broker hiccup must not fail the plan's page
        logger.warning("could not read the plans queue for plan %s", plan.pk, exc_info=True)
        return None


@shared_task(name="routes.tasks.optimize_plan", acks_late=True, reject_on_worker_lost=True)
def optimize_plan(plan_id: int) -> None:
    """Compute a queued plan. Safe to run twice: a plan already done or failed is left alone, and
    a run that died half-way (worker killed) starts over from the unchanged previous version."""
    try:
        if splitting.plan_is_big(Plan.objects.get(pk=plan_id)):
            splitting.plan_split_start(plan_id=plan_id)  # a big day: in parts, across the workers
        else:
            planning.plan_compute(plan_id=plan_id)
    except Exception:  # noqa: BLE001 - plan_compute recorded the failure on the plan for the dispatcher
        logger.warning("plan %s failed; see the plan's error", plan_id)


@shared_task(name="routes.tasks.solve_plan_part", acks_late=True, reject_on_worker_lost=True)
def solve_plan_part(plan_id: int, index: int) -> None:
    """One region of a big day (routes.plans.splitting); idempotent, the last one queues the merge."""
    try:
        splitting.plan_part_solve(plan_id=plan_id, index=index)
    except Exception:  # noqa: BLE001 - the failure is recorded on the plan
        logger.warning("plan %s region %s failed; see the plan's error", plan_id, index)


@shared_task(name="routes.tasks.merge_plan_parts", acks_late=True, reject_on_worker_lost=True)
def merge_plan_parts(plan_id: int) -> None:
    """The regions of a big day merged, mended across borders and saved; idempotent."""
    try:
        splitting.plan_parts_merge(plan_id=plan_id)
    except Exception:  # noqa: BLE001 - the failure is recorded on the plan
        logger.warning("plan %s failed while merging; see the plan's error", plan_id)


@shared_task(name="routes.tasks.check_plan_parts", acks_late=True)
def check_plan_parts(plan_id: int) -> None:
    """A big day's deadline: not done by now, it fails saying what is missing (never stays running)."""
    splitting.plan_parts_check(plan_id=plan_id)


@shared_task(name="routes.tasks.replan_plan", acks_late=True, reject_on_worker_lost=True)
def replan_plan(plan_id: int) -> None:
    """Compute a queued mid-day re-plan; idempotent like optimize_plan."""

    try:
        replanning.replan_compute(plan_id=plan_id)
    except Exception:  # noqa: BLE001 - the failure is recorded on the plan
        logger.warning("re-plan %s failed; see the plan's error", plan_id)


@shared_task(name="routes.tasks.expire_replan_proposal", acks_late=True)
def expire_replan_proposal(plan_id: int) -> None:
    """A proposal's deadline came (scheduled when it was made); idempotent, see plan_proposal_expire."""

    plan_proposal_expire(plan_id=plan_id)


@shared_task(name="routes.tasks.expire_replan_proposals", ignore_result=True)
def expire_replan_proposals(resume_timers: bool = False) -> int:
    """Beat, every minute: proposals past their deadline whose timer was lost. `resume_timers`: the
    embedded workers starting in a new process (config.tasks.EMBEDDED_STARTUP_TASKS), whose timers the
    old one took with it: the others get theirs again."""

    return proposals_resume()["expired"] if resume_timers else proposals_expire_due()
