from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "monitoring"

    def ready(self) -> None:
        from monitoring import deploy_checks, metrics, signals  # noqa: F401 - they register on import

        metrics.register()
