"""WebSocket URL routes."""

from django.urls import path

from dispatch.consumers import DispatchConsumer

websocket_urlpatterns: list = [
    path("ws/dispatch/", DispatchConsumer.as_asgi()),
]
