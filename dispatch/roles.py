"""Roles are Django groups. Every scope decision (which depots a user sees) goes through here."""

from django.contrib.auth.models import Group

MANAGER = "manager"
DISPATCHER = "dispatcher"
DRIVER = "driver"
# A courier partner's staff: they see and act on only the orders handed to their partner.
PARTNER = "partner"
ROLES = (MANAGER, DISPATCHER, DRIVER, PARTNER)


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


def is_partner(user) -> bool:
    return user.is_authenticated and PARTNER in _group_names(user)


def partner_ids(user) -> set[int]:
    """The courier partners whose orders a partner user sees (none for anybody else)."""
    if not is_partner(user):
        return set()
    return set(user.courier_partners.filter(active=True).values_list("id", flat=True))


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


# What managers may do in the admin site, per app. Plans and network builds are records of what was
# computed and dispatched (view only); status history is evidence of delivery (never deleted).
MANAGER_APPS = ("dispatch", "routes", "customers", "analytics")
MANAGER_VIEW_ONLY = {
    ("routes", "plan"), ("routes", "route"), ("routes", "stop"), ("routes", "unassignedorder"),
    ("routes", "roadnetworkbuild"),
}  # fmt: skip
MANAGER_NO_DELETE = {("dispatch", "orderstatuschange")}


def grant_manager_permissions(**kwargs) -> None:
    """Give the manager group the admin permissions on every model of our apps (run after migrate)."""
    from django.contrib.auth.models import Permission

    group, _ = Group.objects.get_or_create(name=MANAGER)
    wanted = []
    for permission in Permission.objects.filter(content_type__app_label__in=MANAGER_APPS).select_related(
        "content_type"
    ):
        action, _, model = permission.codename.partition("_")
        key = (permission.content_type.app_label, permission.content_type.model)
        if key in MANAGER_VIEW_ONLY and action != "view":
            continue
        if key in MANAGER_NO_DELETE and action == "delete":
            continue
        wanted.append(permission)
    group.permissions.add(*wanted)
