from django.apps import AppConfig


class ApiPlumbingConfig(AppConfig):
    """Not a domain app: installs the API-wide input rules once, at start-up."""

    name = "config.api"
    label = "api_plumbing"

    def ready(self) -> None:
        from config.api import strict_types, unknown_fields

        strict_types.install()
        unknown_fields.install()
