from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recommendations"

    def ready(self):
        from recommendations import metrics

        metrics.register()  # recommendation requests and latency on /metrics
