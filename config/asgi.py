import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402
from config.warm_up import warm_up_in_background  # noqa: E402
from config.ws_auth import TokenOrSessionAuthMiddlewareStack  # noqa: E402
from dispatch.live.position_intake import PositionIntakeMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Drivers' positions are most of the traffic: a lean path answers them in both modes
        # (dispatch.live.position_intake).
        "http": PositionIntakeMiddleware(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(TokenOrSessionAuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# The first requests after a start as quick as the next: the once-per-process work in a background
# thread (config/warm_up.py), and the maps drawn once (folium's templates; without tiles, the road
# network and its backdrop), by dotted path so that the server starts listening before they load.
warm_up_in_background(steps=("dispatch.maps.drawing.warm_up",))
