"""Writes of road closures: draw, change, lift; each change schedules the re-planning it sets off."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from config.tasks import enqueue
from dispatch import events
from dispatch.audit import audit_record
from routes.closures.tasks import closure_changed
from routes.errors import RoutingError
from routes.models import RoadClosure
from routes.network.closure_geometry import validate_closure_geometry


def _check_times(starts_at, ends_at) -> None:
    if ends_at is not None and starts_at is not None and ends_at <= starts_at:
        raise RoutingError(gettext("A closure must end after it starts"), field="ends_at", value=ends_at.isoformat())


def _validated_geometry(geometry) -> dict:
    try:
        return validate_closure_geometry(geometry)
    except ValueError as exc:
        raise RoutingError(
            gettext("Invalid closure geometry: %(problem)s") % {"problem": exc}, field="geometry", value=None
        ) from None


def _schedule_replanning(closure: RoadClosure) -> None:
    """After commit: re-plan for this state now, and again when its announced start and end arrive."""

    closure_id, version, now = closure.pk, closure.version, timezone.now()
    transaction.on_commit(lambda: events.closure_changed(closure_id=closure_id))  # the live maps draw it
    transaction.on_commit(lambda: enqueue(closure_changed, closure_id, version, "change"))
    if closure.lifted_at is None and closure.starts_at > now:
        transaction.on_commit(lambda: enqueue(closure_changed, closure_id, version, "start", eta=closure.starts_at))
    if closure.lifted_at is None and closure.ends_at and closure.ends_at > now:
        transaction.on_commit(lambda: enqueue(closure_changed, closure_id, version, "end", eta=closure.ends_at))


@transaction.atomic
def closure_create(*, geometry: dict, reason: str, starts_at=None, ends_at=None, by=None) -> RoadClosure:
    starts_at = starts_at or timezone.now()
    _check_times(starts_at, ends_at)
    closure = RoadClosure.objects.create(
        geometry=_validated_geometry(geometry),
        reason=reason,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )
    _schedule_replanning(closure)
    audit_record(
        actor=by,
        action="closure.created",
        target=closure,
        changes={"reason": reason, "starts_at": starts_at, "ends_at": ends_at},
    )
    return closure


@transaction.atomic
def closure_update(*, closure: RoadClosure, by=None, **changes) -> RoadClosure:
    """Change geometry, times or reason; the version rises so re-planning sees a new state."""
    locked = RoadClosure.objects.select_for_update().get(pk=closure.pk)
    if locked.lifted_at is not None:
        raise RoutingError(
            gettext("This closure was lifted; create a new one"), field="id", value=locked.pk, status_code=409
        )
    if "geometry" in changes:
        changes["geometry"] = _validated_geometry(changes["geometry"])
    for name, value in changes.items():
        setattr(locked, name, value)
    _check_times(locked.starts_at, locked.ends_at)
    locked.version = F("version") + 1
    locked.save()
    locked.refresh_from_db()
    _schedule_replanning(locked)
    audit_record(actor=by, action="closure.changed", target=locked, changes={**changes, "version": locked.version})
    return locked


@transaction.atomic
def closure_lift(*, closure: RoadClosure, by=None) -> RoadClosure:
    """End a closure now. Lifting twice is harmless: the first lift stands."""
    # Conditional update: two dispatchers lifting at once must bump the version only once.
    lifted = RoadClosure.objects.filter(pk=closure.pk, lifted_at__isnull=True).update(
        lifted_at=timezone.now(),
        lifted_by=by if getattr(by, "is_authenticated", False) else None,
        version=F("version") + 1,
        updated_at=timezone.now(),
    )
    closure.refresh_from_db()
    closure.was_lifted_now = bool(lifted)
    if lifted:
        _schedule_replanning(closure)
        audit_record(actor=by, action="closure.lifted", target=closure, changes={"version": closure.version})
    return closure
