"""Creates the groups `Operators (read-only)` and `Operators` with their permissions.

On a fresh database permissions only exist after migrate's post_migrate; the console's
post_migrate handler fills the groups then. On an existing database this grants them now.
"""
from django.db import migrations


def create_groups(apps, schema_editor):
    from console.services import operator_groups_sync

    operator_groups_sync(
        group_model=apps.get_model("auth", "Group"),
        permission_model=apps.get_model("auth", "Permission"),
        using=schema_editor.connection.alias,
    )


def remove_groups(apps, schema_editor):
    from console.permissions import OPERATOR_GROUPS

    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(
        name__in=OPERATOR_GROUPS
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
