"""WebSocket URL routes."""

from django.urls import path

from customers.tracking.consumers import TrackingConsumer
from dispatch.live.consumers import DispatchConsumer

websocket_urlpatterns: list = [
    path("ws/dispatch/", DispatchConsumer.as_asgi()),
    path("ws/track/<str:token>/", TrackingConsumer.as_asgi()),
]
