"""Guard rails on re-plans the system makes by itself: apply, or propose and wait for a dispatcher.

A closure re-plan (routes.closures.replanning) is computed like any re-plan, then compared with the
running version (`replan_diff`): stops moved to another vehicle, stops dropped, ETA shifts against
what the customers expect (the live ETA where there is one), stops flagged late / overtime, and the
cost. It applies by itself only when it drops no stop, moves none and shifts no ETA by more than
REPLAN_AUTO_APPLY_MAX_ETA_SHIFT_MIN. Otherwise it becomes a *proposal* (`Plan.state = proposed`): a
finished version that is not dispatched, so drivers, orders and customers see no change, and an
alert (`replan:<plan id>`) puts the one-screen diff in front of the dispatcher, who approves it
(it is dispatched then, and customers are told) or rejects it (the running version stays). A
proposal not decided within REPLAN_PROPOSAL_TIMEOUT_MIN expires: the running version stays, and the
alert (kind "replan_proposal") says so and stays open. Its timer is a task scheduled for the deadline;
beat sweeps every minute for timers lost (production), and the embedded workers, whose timers live in
their process, sweep and arm them again when they start (proposals_resume). A newer version of the day
makes an undecided proposal stale (superseded): it revised a version drivers no longer follow; so does
lifting the closure it was made for.
"""

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from config.locks import LockTimeout, exclusive
from config.tasks import enqueue
from dispatch.alerts import alert_open, alerts_resolve_keys, company_text
from dispatch.audit import audit_record
from dispatch.models import Alert, Order
from routes.errors import RoutingError
from routes.models import Plan, Stop
from routes.plans.saving import announce_plan_updated, mark_orders_dispatched
from routes.plans.selectors import latest_dispatched_plan

logger = logging.getLogger(__name__)

# The diff stored on a proposal lists at most this many stops per kind (the counts are always whole).
DIFF_LIST_LIMIT = 100
# A closure re-plan's reason (routes.closures.replanning): "closure 3 v1 change: road closed (gas leak): keep".
CLOSURE_REASON = re.compile(r"closure [^:]*: road (closed|lifted) \((.*)\)(?:: [a-z_]+)?", re.S)


def _alert_key(plan_id: int) -> str:
    return f"replan:{plan_id}"


def _hhmm(moment) -> str:
    return timezone.localtime(moment).strftime("%H:%M")


def replan_diff(*, parent: Plan, revision: Plan) -> dict:
    """What `revision` changes against `parent` for stops still to serve, and why it would be held.

    Reads the saved routes of both, so it can run inside the transaction that wrote the revision.
    """
    # Never the routes' road geometry (a large JSON nobody reads here): decoded once per stop row, it
    # was most of a closure's time to answer (3 s of 7 for a 300-stop day).
    stops = Stop.objects.select_related("order", "route__vehicle").defer("route__geometry")
    before = {s.order_id: s for s in stops.filter(route__plan=parent) if s.order.status not in Order.DONE_STATUSES}
    after = {s.order_id: s for s in stops.filter(route__plan=revision)}
    reasons = dict(revision.unassigned.values_list("order_id", "reason"))
    moved, dropped, shifts = [], [], []
    for order_id, old in sorted(before.items()):
        new = after.get(order_id)
        reference = old.order.reference
        if new is None:
            dropped.append({"order": order_id, "reference": reference, "reason": reasons.get(order_id, "left out")})
            continue
        if new.route.vehicle_id != old.route.vehicle_id:
            moved.append(
                {
                    "order": order_id,
                    "reference": reference,
                    "from": old.route.vehicle.name,
                    "to": new.route.vehicle.name,
                }
            )
        # Live against live: what the customer expects now (the live ETA, from where the driver is;
        # the planned one where there is none yet), not the morning's plan, which a fleet ahead of or
        # behind it left long ago. A stop the re-plan leaves as it was keeps its live ETA
        # (routes.plans.replanning._keep_live_etas), so it shifts by nothing; a re-timed one is timed from
        # where its vehicle is now, like a live ETA.
        expected = old.live_eta or old.eta
        shift_min = round(((new.live_eta or new.eta) - expected).total_seconds() / 60)
        if shift_min:
            shifts.append(
                {"order": order_id, "reference": reference, "before": expected.isoformat(),
                 "after": (new.live_eta or new.eta).isoformat(), "shift_min": shift_min}
            )  # fmt: skip
    shifts.sort(key=lambda item: -abs(item["shift_min"]))
    flagged = [
        {"order": s.order_id, "reference": s.order.reference, "vehicle": s.route.vehicle.name, "warnings": s.warnings}
        for s in sorted(after.values(), key=lambda s: (s.route.vehicle.name, s.sequence))
        if s.order.status not in Order.DONE_STATUSES and (s.late_s or any(w.startswith("overtime") for w in s.warnings))
    ]
    max_shift = max((abs(item["shift_min"]) for item in shifts), default=0)
    limit = settings.REPLAN_AUTO_APPLY_MAX_ETA_SHIFT_MIN
    held = []
    # Stored with the proposal and shown as said, like the alert: in the company's language.
    if dropped:
        held.append(company_text(gettext_noop("%(count)s stop(s) dropped"), count=len(dropped)))
    if moved:
        held.append(company_text(gettext_noop("%(count)s stop(s) moved to another vehicle"), count=len(moved)))
    if max_shift > limit:
        held.append(
            company_text(
                gettext_noop("ETAs shift by up to %(shift)s min (more than %(limit)s)"), shift=max_shift, limit=limit
            )
        )
    cost_before, cost_after = float(parent.cost), float(revision.cost)
    return {
        "moved": moved[:DIFF_LIST_LIMIT],
        "moved_count": len(moved),
        "dropped": dropped[:DIFF_LIST_LIMIT],
        "dropped_count": len(dropped),
        "eta_shifts": shifts[:DIFF_LIST_LIMIT],
        "eta_shift_count": len(shifts),
        "max_eta_shift_min": max_shift,
        "flagged": flagged[:DIFF_LIST_LIMIT],
        "flagged_count": len(flagged),
        "cost_before": round(cost_before, 2),
        "cost_after": round(cost_after, 2),
        "cost_delta": round(cost_after - cost_before, 2),
        "held_because": held,
    }


def proposal_summary(proposal: dict) -> str:
    """One line a dispatcher reads in an alert: what the re-plan would change (company language)."""
    parts = []
    if proposal.get("moved_count"):
        parts.append(
            company_text(gettext_noop("%(count)s stop(s) move to another vehicle"), count=proposal["moved_count"])
        )
    if proposal.get("dropped_count"):
        parts.append(company_text(gettext_noop("%(count)s dropped"), count=proposal["dropped_count"]))
    if proposal.get("max_eta_shift_min"):
        parts.append(
            company_text(gettext_noop("ETAs shift by up to %(shift)s min"), shift=proposal["max_eta_shift_min"])
        )
    if proposal.get("flagged_count"):
        parts.append(company_text(gettext_noop("%(count)s flagged late/overtime"), count=proposal["flagged_count"]))
    delta = proposal.get("cost_delta") or 0
    parts.append(company_text(gettext_noop("cost %(delta)s"), delta=f"{delta:+.2f}"))
    return ", ".join(parts)


def _depot_id(plan: Plan) -> int | None:
    return plan.depot_id or next(iter(plan.request.get("depots") or []), None)


def _why(plan: Plan) -> str:
    # "closure 3 v1 change: road closed (gas leak): keep" -> "road closed (gas leak)", in the company's language
    match = CLOSURE_REASON.fullmatch(plan.reason)
    if match is not None:
        text = (
            gettext_noop("road closed (%(closure)s)")
            if match[1] == "closed"
            else gettext_noop("road open again (%(closure)s)")
        )
        return company_text(text, closure=match[2])
    parts = plan.reason.split(": ")
    return parts[1] if plan.reason.startswith("closure ") and len(parts) > 1 else plan.reason


def _open_alert(plan: Plan, message: str) -> None:
    depot_id = _depot_id(plan)
    if depot_id is None:
        return
    alert_open(
        depot_id=depot_id, kind=Alert.Kind.REPLAN_PROPOSAL, dedup_key=_alert_key(plan.pk), message=message,
        data={
            "plan": plan.pk, "version": plan.version, "parent": plan.parent_id,
            "state": plan.state, "url": f"/plans/{plan.pk}/", "decide_by": plan.decide_by.isoformat() if plan.decide_by else None,
            "moved": plan.proposal.get("moved_count", 0), "dropped": plan.proposal.get("dropped_count", 0),
            "max_eta_shift_min": plan.proposal.get("max_eta_shift_min", 0), "cost_delta": plan.proposal.get("cost_delta", 0),
            "actions": ["approve", "reject"] if plan.state == Plan.State.PROPOSED else [],
        },
    )  # fmt: skip


def proposal_hold(*, revision: Plan) -> Plan:
    """Keep a finished re-plan as a proposal (caller's transaction): alert, and expire it in time."""

    now = timezone.now()
    revision.state = Plan.State.PROPOSED
    revision.decide_by = now + timedelta(minutes=settings.REPLAN_PROPOSAL_TIMEOUT_MIN)
    revision.save(update_fields=["state", "decide_by"])
    _supersede_older(revision)
    parent_version = revision.parent.version if revision.parent_id else "?"
    _open_alert(
        revision,
        company_text(
            gettext_noop(
                "Re-plan v%(version)s (%(why)s) waits for your approval — held because %(held)s: %(summary)s. "
                "Approve or reject it on the plan page. Not decided by %(deadline)s: it expires and drivers keep "
                "v%(parent)s."
            ),
            version=revision.version, why=_why(revision), held="; ".join(revision.proposal["held_because"]),
            summary=proposal_summary(revision.proposal), deadline=_hhmm(revision.decide_by), parent=parent_version,
        ),
    )  # fmt: skip
    plan_id, decide_by = revision.pk, revision.decide_by
    transaction.on_commit(lambda: enqueue("routes.tasks.expire_replan_proposal", plan_id, eta=decide_by))
    return revision


def proposals_supersede(*, revision: Plan) -> None:
    """A newer version of the day was applied or proposed: undecided older proposals are stale."""
    _supersede_older(revision)


def proposals_withdraw(*, plan: Plan, reason_prefix: str, why: str) -> int:
    """Undecided proposals of `plan`'s day and depot made for a reason that no longer holds (a
    closure lifted): superseded, their alerts resolved; the running version stays."""
    stale = Plan.objects.filter(
        date=plan.date, depot_id=plan.depot_id, state=Plan.State.PROPOSED, reason__startswith=reason_prefix
    )
    # One write: a reader never sees a withdrawn proposal whose alert still offers "Approve", a
    # worker killed in between leaves both for the retry (which finds them still proposed), and a
    # proposal approved meanwhile (its row locked here) is neither withdrawn nor counted.
    with transaction.atomic():
        ids = list(stale.select_for_update().order_by("pk").values_list("pk", flat=True))
        if ids:
            Plan.objects.filter(pk__in=ids).update(state=Plan.State.SUPERSEDED, decided_at=timezone.now())
            alerts_resolve_keys([_alert_key(pk) for pk in ids])
    if ids:
        logger.info("withdrew proposals %s: %s", ids, why)
    return len(ids)


def _supersede_older(revision: Plan) -> None:
    older = Plan.objects.filter(date=revision.date, depot_id=revision.depot_id, state=Plan.State.PROPOSED).exclude(
        pk=revision.pk
    )
    ids = list(older.values_list("pk", flat=True))
    if ids:
        Plan.objects.filter(pk__in=ids, state=Plan.State.PROPOSED).update(
            state=Plan.State.SUPERSEDED, decided_at=timezone.now()
        )
        alerts_resolve_keys([_alert_key(pk) for pk in ids])


def _locked_proposal(plan: Plan, verb: str) -> Plan:
    locked = Plan.objects.select_for_update(of=("self",)).select_related("parent").get(pk=plan.pk)
    if locked.state != Plan.State.PROPOSED:
        raise RoutingError(
            (
                gettext("Plan %(plan)s is %(state)s; only a proposed version can be approved")
                if verb == "approved"
                else gettext("Plan %(plan)s is %(state)s; only a proposed version can be rejected")
            )
            % {"plan": locked.pk, "state": locked.get_state_display().lower()},
            field="state", value=locked.state, status_code=409,
        )  # fmt: skip
    return locked


def plan_proposal_approve(*, plan: Plan, by=None) -> Plan:
    """Apply a proposal: it becomes the version drivers follow, and everyone affected is told.

    Under the day's re-plan lock, so that a closure re-plan computing meanwhile sees the approved
    version as the running one when it saves (and is held back rather than undoing it)."""

    try:
        with exclusive(f"replan:{plan.date}:{plan.depot_id or 'all'}", hold_s=settings.REPLAN_LOCK_HOLD_S, wait_s=30):
            return _approve(plan=plan, by=by)
    except LockTimeout:
        raise RoutingError(
            gettext("A re-plan of this day is being computed; try again in a moment"), field="id", value=plan.pk,
            status_code=409,
        ) from None  # fmt: skip


@transaction.atomic
def _approve(*, plan: Plan, by=None) -> Plan:
    locked = _locked_proposal(plan, "approved")
    if locked.decide_by is not None and locked.decide_by <= timezone.now():
        # Its timer may have been lost (an embedded restart); past the deadline it is stale all the same.
        raise RoutingError(
            gettext("This proposal expired at %(time)s: the running version stays; re-plan again instead")
            % {"time": _hhmm(locked.decide_by)},
            field="decide_by", value=locked.decide_by.isoformat(), status_code=409,
        )  # fmt: skip
    running = latest_dispatched_plan(day=locked.date, depot_id=locked.depot_id)
    if running is not None and running.pk != locked.parent_id:
        # It revised a version drivers no longer follow: applying it would undo what came since.
        raise RoutingError(
            gettext("v%(version)s runs now, newer than the version this proposal revises; re-plan again instead")
            % {"version": running.version},
            field="parent", value=locked.parent_id, status_code=409,
        )  # fmt: skip
    now = timezone.now()
    user = by if getattr(by, "is_authenticated", False) else None
    locked.state = Plan.State.ACTIVE
    locked.dispatched_at, locked.dispatched_by = now, user
    locked.decided_at, locked.decided_by = now, user
    locked.save(update_fields=["state", "dispatched_at", "dispatched_by", "decided_at", "decided_by"])
    routed = list(Stop.objects.filter(route__plan=locked).values_list("order_id", flat=True))
    left_out = list(locked.unassigned.values_list("order_id", flat=True))
    note = f"plan {locked.pk} v{locked.version}: proposal approved"
    mark_orders_dispatched(routed=routed, left_out=left_out, by=user, note=note)
    announce_plan_updated(locked)
    alerts_resolve_keys([_alert_key(locked.pk)])
    _supersede_older(locked)
    audit_record(actor=user, action="plan.proposal_approved", target=locked, changes={"orders": len(routed)})
    return locked


@transaction.atomic
def plan_proposal_reject(*, plan: Plan, by=None) -> Plan:
    """Keep the running version; the proposal stays on record as rejected."""
    locked = _locked_proposal(plan, "rejected")
    user = by if getattr(by, "is_authenticated", False) else None
    locked.state, locked.decided_at, locked.decided_by = Plan.State.REJECTED, timezone.now(), user
    locked.save(update_fields=["state", "decided_at", "decided_by"])
    alerts_resolve_keys([_alert_key(locked.pk)])
    audit_record(actor=user, action="plan.proposal_rejected", target=locked)
    return locked


def plan_proposal_expire(*, plan_id: int) -> Plan | None:
    """A proposal nobody decided in time expires: the running version stays; the alert says so and
    stays open. Idempotent, and harmless when it runs early (a redelivered task) or after a decision."""
    now = timezone.now()
    with transaction.atomic():
        locked = Plan.objects.select_for_update(of=("self",)).select_related("parent").filter(pk=plan_id).first()
        if locked is None or locked.state != Plan.State.PROPOSED:
            return locked
        if locked.decide_by and locked.decide_by > now:
            return locked
        locked.state, locked.decided_at = Plan.State.EXPIRED, now
        locked.save(update_fields=["state", "decided_at"])
        audit_record(actor=None, action="plan.proposal_expired", target=locked)
        parent_version = locked.parent.version if locked.parent_id else "?"
        _open_alert(
            locked,
            company_text(
                gettext_noop(
                    "Re-plan v%(version)s (%(why)s) was not approved by %(deadline)s and expired: drivers keep "
                    "v%(parent)s as it was, and its customers were not told of any change. What it would have "
                    "changed: %(summary)s. Re-plan again from the plan page if needed."
                ),
                version=locked.version, why=_why(locked), deadline=_hhmm(locked.decide_by), parent=parent_version,
                summary=proposal_summary(locked.proposal),
            ),
        )  # fmt: skip
    return locked


def proposals_expire_due() -> int:
    """Expire every proposal past its deadline (a beat sweep, for timers lost in a restart)."""
    due = Plan.objects.filter(state=Plan.State.PROPOSED, decide_by__lte=timezone.now()).values_list("pk", flat=True)
    return sum(1 for plan_id in list(due) if plan_proposal_expire(plan_id=plan_id) is not None)


def proposals_resume() -> dict[str, int]:
    """The embedded mode started again: the timers of its proposals lived in the old process. Expire
    those past their deadline (they could no longer be approved, yet read "proposed") and arm a timer
    again for the others. Production keeps its timers in the broker, and beat sweeps every minute."""

    expired = proposals_expire_due()
    waiting = list(
        Plan.objects.filter(state=Plan.State.PROPOSED, decide_by__gt=timezone.now()).values_list("pk", "decide_by")
    )
    for plan_id, decide_by in waiting:
        enqueue("routes.tasks.expire_replan_proposal", plan_id, eta=decide_by)  # idempotent, early or twice
    return {"expired": expired, "timers": len(waiting)}
