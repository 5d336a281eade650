from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The platform's ground floor: no models of a domain, imported by every domain, importing none.

    At start-up it installs the API-wide input rules once.
    """

    name = "core"
    label = "core"

    def ready(self) -> None:
        from core.api import strict_types, unknown_fields

        strict_types.install()
        unknown_fields.install()
