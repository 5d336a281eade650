from django.apps import AppConfig


class ApikeysConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apikeys"

    def ready(self) -> None:
        from apikeys import signals  # noqa: F401  (connects the cache-invalidation receivers)
        from apikeys.api import schema  # noqa: F401  (describes the authentication class in OpenAPI)
