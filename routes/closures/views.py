"""The closures page: what is closed now, what was lately, and the routes being driven."""

from django.db.models import Q
from django.shortcuts import render
from django.utils import timezone

from dispatch.fleet import selectors as fleet_selectors
from dispatch.maps import drawing as maps
from dispatch.models import Order
from dispatch.permissions import office_staff_required
from routes.closures.selectors import closures_list
from routes.plans import selectors


@office_staff_required
def closures(request):
    """Current and upcoming road closures on a map where a new one can be drawn."""
    now = timezone.now()
    current = list(
        closures_list()
        .filter(lifted_at__isnull=True)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .order_by("starts_at", "id")
    )
    for closure in current:
        closure.upcoming = closure.starts_at > now
    recent = list(closures_list().filter(Q(lifted_at__isnull=False) | Q(ends_at__lte=now))[:10])
    running = selectors.running_routes(request.user)
    for index, route in enumerate(running):
        route.color = maps.route_color(index)
        stops = list(route.stops.all())
        route.stop_count = len(stops)
        route.done_count = sum(1 for stop in stops if stop.order.status in Order.DONE_STATUSES)
        route.next_stop = next((stop for stop in stops if stop.order.status not in Order.DONE_STATUSES), None)
    context = {
        "closures": current,
        "recent": recent,
        "running_routes": running,
        "map_html": maps.closures_map_html(
            closures=current,
            depots=fleet_selectors.depots_visible_to(request.user),
            zones=fleet_selectors.zones_visible_to(request.user),
            routes=running,
        ),
        "now_local": timezone.localtime(now).strftime("%Y-%m-%dT%H:%M"),
        "time_zone": timezone.get_current_timezone_name(),
        "added": request.GET.get("added", ""),
        "lifted": request.GET.get("lifted", ""),
    }
    return render(request, "routes/closures.html", context)
