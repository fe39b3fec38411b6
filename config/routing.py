"""WebSocket URL routes (the live consumers arrive with the live-operations issue)."""

websocket_urlpatterns: list = []
