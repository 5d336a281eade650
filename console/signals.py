"""post_migrate: grant the operator groups the permissions of freshly migrated models."""
from django.apps import apps as global_apps

from console import services
from console.permissions import CONSOLE_APPS


def sync_operator_groups(sender, using: str = "default", apps=global_apps, **kwargs) -> None:
    if sender.label not in CONSOLE_APPS:
        return
    try:
        group_model = apps.get_model("auth", "Group")
        permission_model = apps.get_model("auth", "Permission")
    except LookupError:  # auth not migrated in this state (e.g. a partial migrate)
        return
    services.operator_groups_sync(
        group_model=group_model, permission_model=permission_model, app_labels=[sender.label], using=using
    )
