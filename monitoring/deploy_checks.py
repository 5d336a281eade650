"""`manage.py check --deploy` warnings of the monitoring app."""
from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def metrics_token_set(app_configs, **kwargs):
    if settings.METRICS_TOKEN:
        return []
    return [checks.Warning(
        "METRICS_TOKEN is not set, so /metrics answers 403 (it is open only under DEBUG).",
        hint="Set METRICS_TOKEN (or METRICS_TOKEN_FILE) and scrape with 'Authorization: Bearer <token>'.",
        id="groundstation.W001",
    )]
