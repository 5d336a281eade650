"""WebSocket routes of the monitoring app (collected by config/routing.py)."""
from django.urls import re_path

from monitoring.consumers import StatusConsumer

websocket_urlpatterns: list = [
    re_path(r"^api/v1/ws/status/?$", StatusConsumer.as_asgi()),
]
