"""WebSocket URL routes."""

from django.urls import path

from customers.consumers import TrackingConsumer
from dispatch.consumers import DispatchConsumer

websocket_urlpatterns: list = [
    path("ws/dispatch/", DispatchConsumer.as_asgi()),
    path("ws/track/<str:token>/", TrackingConsumer.as_asgi()),
]
