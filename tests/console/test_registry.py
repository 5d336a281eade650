"""Every model of the platform's apps is in the console, or deliberately shown elsewhere."""
import pytest
from django.apps import apps
from django.contrib import admin

CONSOLE_APPS = ("core", "notifications", "accounts", "tenants", "apikeys", "monitoring", "orchestration")
# Shown on another model's page rather than on their own list.
SHOWN_ELSEWHERE = {
    "orchestration.ClusterVersion": "inline on the cluster page",
    "orchestration.StepRun": "inline on the run page",
    "orchestration.StepLog": "the run page's log panel",
    "orchestration.IdempotencyRecord": "internal replay cache, expired by the reaper",
    "monitoring.RollupWatermark": "internal bookkeeping of the rollup task",
    "monitoring.LiveEvent": "the embedded live-event outbox, pruned by the pollers and the hourly purge",
    "monitoring.MetricCounter": "platform-wide counters, read on /metrics and the dashboard",
    "apikeys.PendingInvalidation": "durable record of a cache invalidation that failed during a Redis outage",
}


@pytest.mark.parametrize(
    "model", [m for app in CONSOLE_APPS for m in apps.get_app_config(app).get_models()], ids=lambda m: m._meta.label
)
def test_the_model_is_in_the_console(model):
    assert model in admin.site._registry or model._meta.label in SHOWN_ELSEWHERE


def test_the_allowlist_has_no_stale_entries():
    for label in SHOWN_ELSEWHERE:
        assert apps.get_model(label) not in admin.site._registry, f"{label} is registered now; drop it from the list"
