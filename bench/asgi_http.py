"""The shape this project replaced, for `bench/http_bench.py --compare-asgi`: every HTTP request
through Django's ASGI handler (a thread hop per sync middleware, a fresh thread per request)."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()
