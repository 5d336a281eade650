"""Settings for the gateway benchmark server: the platform's own, plus the bench URL map."""
from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.gateway_urls"
LOG_LEVEL = "WARNING"
