from django.apps import AppConfig


class OrchestrationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "orchestration"

    def ready(self):
        # Registers the Celery tasks in every process (web, beat, worker), so the engine can
        # send `orchestration.execute_step` by name without importing the tasks module above it.
        from orchestration import metrics, tasks  # noqa: F401

        metrics.register()  # runs by status on /metrics
