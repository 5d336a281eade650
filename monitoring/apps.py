from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "monitoring"

    def ready(self) -> None:
        from core import events, health
        from monitoring import deploy_checks, live, metrics, signals  # noqa: F401 - they register on import
        from monitoring.health import beat_state

        metrics.register()
        health.readiness_check_register("beat", beat_state)
        # Every app's events (orchestration's run status too) travel by monitoring's transport.
        events.transport_install(live.publish_many)
