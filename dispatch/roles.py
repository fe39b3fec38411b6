"""Roles are Django groups. Every scope decision (which depots a user sees) goes through here."""

from django.contrib.auth.models import Group

MANAGER = "manager"
DISPATCHER = "dispatcher"
DRIVER = "driver"
ROLES = (MANAGER, DISPATCHER, DRIVER)


def _group_names(user) -> set[str]:
    # Cached on the user object: permission checks call this several times per request.
    if not hasattr(user, "_role_names"):
        user._role_names = set(user.groups.values_list("name", flat=True)) if user.is_authenticated else set()
    return user._role_names


def is_manager(user) -> bool:
    return user.is_authenticated and (user.is_superuser or MANAGER in _group_names(user))


def is_dispatcher(user) -> bool:
    return user.is_authenticated and DISPATCHER in _group_names(user)


def is_driver(user) -> bool:
    return user.is_authenticated and DRIVER in _group_names(user)


def is_office_staff(user) -> bool:
    """Managers and dispatchers: the people who use the dashboard."""
    return is_manager(user) or is_dispatcher(user)


def visible_depot_ids(user) -> set[int] | None:
    """Depots the user may see; None means all of them (managers and superusers)."""
    if is_manager(user):
        return None
    if is_dispatcher(user):
        return set(user.dispatch_depots.values_list("id", flat=True))
    return set()


def ensure_role_groups() -> None:
    for name in ROLES:
        Group.objects.get_or_create(name=name)
