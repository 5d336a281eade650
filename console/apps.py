"""The operators' console: the admin site with its dashboard, and the operator groups."""
from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate


class ConsoleAdminConfig(AdminConfig):
    """Django's admin, with `console.sites.ConsoleAdminSite` as `admin.site`."""

    default_site = "console.sites.ConsoleAdminSite"


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Operators' console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from console.signals import sync_operator_groups

        # Runs after auth's own post_migrate handler has created a migrated app's permissions,
        # so models added later still reach the operator groups.
        post_migrate.connect(sync_operator_groups, dispatch_uid="console.sync_operator_groups")
