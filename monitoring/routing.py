"""WebSocket routes of the monitoring app."""
websocket_urlpatterns: list = []
