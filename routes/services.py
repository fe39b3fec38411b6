"""Writes of the routes app: road closures (plans arrive with the plans issue)."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from routes.closure_geometry import validate_closure_geometry
from routes.errors import RoutingError
from routes.models import RoadClosure, RoadNetworkBuild


def _check_times(starts_at, ends_at) -> None:
    if ends_at is not None and starts_at is not None and ends_at <= starts_at:
        raise RoutingError("A closure must end after it starts", field="ends_at", value=ends_at.isoformat())


def _validated_geometry(geometry) -> dict:
    try:
        return validate_closure_geometry(geometry)
    except ValueError as exc:
        raise RoutingError(f"Invalid closure geometry: {exc}", field="geometry", value=None) from None


@transaction.atomic
def closure_create(*, geometry: dict, reason: str, starts_at=None, ends_at=None, by=None) -> RoadClosure:
    starts_at = starts_at or timezone.now()
    _check_times(starts_at, ends_at)
    return RoadClosure.objects.create(
        geometry=_validated_geometry(geometry),
        reason=reason,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )


@transaction.atomic
def closure_update(*, closure: RoadClosure, by=None, **changes) -> RoadClosure:
    """Change geometry, times or reason; the version rises so re-planning sees a new state."""
    locked = RoadClosure.objects.select_for_update().get(pk=closure.pk)
    if locked.lifted_at is not None:
        raise RoutingError("This closure was lifted; create a new one", field="id", value=locked.pk, status_code=409)
    if "geometry" in changes:
        changes["geometry"] = _validated_geometry(changes["geometry"])
    for name, value in changes.items():
        setattr(locked, name, value)
    _check_times(locked.starts_at, locked.ends_at)
    locked.version = F("version") + 1
    locked.save()
    locked.refresh_from_db()
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
    return closure


def road_network_build(*, source) -> RoadNetworkBuild:
    """Prepare `source` into a new directory and make it the network every process uses.

    The slow part (parsing, contraction) runs outside any transaction; only the switch is atomic.
    Processes notice the new active build on their next use and load it.
    """
    from routes.network import build_network
    from routes.road_network import network_directory_for

    directory = network_directory_for(source)
    summary = build_network(str(source), str(directory))
    with transaction.atomic():
        RoadNetworkBuild.objects.filter(active=True).update(active=False)
        return RoadNetworkBuild.objects.create(source=str(source), path=str(directory), summary=summary, active=True)
