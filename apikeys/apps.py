from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError


class ApikeysConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apikeys"
    verbose_name = "API keys and usage"

    def ready(self) -> None:
        from apikeys import signals  # noqa: F401  (connects the cache-invalidation receivers)
        from apikeys.api import schema  # noqa: F401  (describes the authentication class in OpenAPI)

        _validate_configured_rates()


def _validate_configured_rates() -> None:
    """A mistyped rate in the environment fails at start-up, not as a 500 on the first request."""
    from core.rates import parse_rates

    configured = {
        **{f"API_USER_RATE_LIMITS[{role!r}]": rates for role, rates in settings.API_USER_RATE_LIMITS.items()},
        **{f"RATE_LIMIT_CLASSES[{name!r}]": rates for name, rates in settings.RATE_LIMIT_CLASSES.items()},
    }
    for name, rates in configured.items():
        try:
            parse_rates(rates)
        except ValidationError as exc:
            raise ImproperlyConfigured(f"{name}: {' '.join(exc.messages)}") from None
