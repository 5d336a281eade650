"""Re-grant the operator groups their permissions (migrate does this on its own; run it after
restoring a database dump or when permissions were created outside migrate)."""
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand

from console import services


class Command(BaseCommand):
    help = "Create the operator groups and add the permissions console.permissions grants them."

    def handle(self, *args, **options) -> None:
        added = services.operator_groups_sync(group_model=Group, permission_model=Permission)
        for name, count in added.items():
            self.stdout.write(f"{name}: {count} permission(s) added")
