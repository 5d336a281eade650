"""The web server's entry point (`uvicorn config.asgi:application`).

HTTP requests run through Django's WSGI handler on a fixed pool of `WEB_THREADS` threads per
process; only WebSocket connections and Server-Sent Events streams take Django's and Channels'
async path. Measured (bench/README.md): Django's ASGI handler costs a thread hop per sync
middleware and a fresh thread per request, so the same `/health` ran about 6× slower than
through the WSGI handler, and each fresh thread opened its own PostgreSQL connection. Long-lived
streams stay async so that they never hold one of the few HTTP threads.
"""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Read once by config/settings.py: this process serves requests on several threads, so its
# PostgreSQL connections come from a bounded pool (DATABASE_POOL_SIZE). Removed again so that
# no child process (or a test that imports this module) inherits it.
os.environ["GROUNDSTATION_WEB_SERVER"] = "1"
try:
    from django.core.asgi import get_asgi_application

    django_asgi_app = get_asgi_application()
finally:
    del os.environ["GROUNDSTATION_WEB_SERVER"]

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402
from core.body_limit import BodyLimit  # noqa: E402


def wants_event_stream(scope) -> bool:
    return any(name == b"accept" and b"text/event-stream" in value for name, value in scope["headers"])


class HttpRouter:
    """Plain requests to the WSGI thread pool; `Accept: text/event-stream` to Django's ASGI."""

    def __init__(self, wsgi_app, asgi_app):
        self.wsgi_app = wsgi_app
        self.asgi_app = asgi_app

    async def __call__(self, scope, receive, send):
        if wants_event_stream(scope):
            return await self.asgi_app(scope, receive, send)
        return await self.wsgi_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": BodyLimit(
            HttpRouter(WSGIMiddleware(get_wsgi_application(), workers=settings.WEB_THREADS), django_asgi_app)
        ),
        # Origin is checked by the consumers, only when one is sent (non-browser clients send none).
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
