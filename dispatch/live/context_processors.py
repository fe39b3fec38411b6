"""Template context for every dashboard page: the open alerts of the user's depots, for the nav.

Lazy: the count is read (one grouped query) only when a template shows it, so pages without the
nav (the driver's app, the tracking page, the admin) pay nothing.
"""

from functools import cached_property

from django.utils.translation import gettext

from dispatch import alerts
from dispatch.live import alerts as live_alerts
from dispatch.roles import is_office_staff


class OpenAlerts:
    def __init__(self, user):
        self.user = user

    @cached_property
    def by_kind(self) -> dict[str, int]:
        if self.user is None or not is_office_staff(self.user):
            return {}
        return live_alerts.open_alert_counts(self.user)

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    @property
    def summary(self) -> str:
        """ "3 open: 2 Predicted late, 1 Driver idle" (the nav's hover text)."""
        parts = [
            f"{n} {alerts.alert_kind_label(kind)}" for kind, n in sorted(self.by_kind.items(), key=lambda i: -i[1])
        ]
        if not parts:
            return gettext("No open alerts")
        return gettext("%(count)s open: %(kinds)s") % {"count": self.total, "kinds": ", ".join(parts)}


def open_alerts(request) -> dict:
    return {"open_alerts": OpenAlerts(getattr(request, "user", None))}
