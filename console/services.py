"""Console writes: keeping the operator groups' permissions in line with `console.permissions`."""
from django.db import transaction

from console.permissions import OPERATOR_GROUPS, grants


@transaction.atomic
def operator_groups_sync(*, group_model, permission_model, app_labels=None, using: str = "default") -> dict[str, int]:
    """Create the operator groups and add the permissions they should hold; returns how many
    permissions each group gained.

    Additive on purpose: a permission a superuser granted by hand is never taken away. Takes the
    models as arguments so the data migration can pass its historical ones.
    """
    permissions = permission_model.objects.using(using).select_related("content_type")
    if app_labels is not None:
        permissions = permissions.filter(content_type__app_label__in=list(app_labels))
    permissions = list(permissions)
    added: dict[str, int] = {}
    for name in OPERATOR_GROUPS:
        group, _ = group_model.objects.using(using).get_or_create(name=name)
        wanted = {
            p.pk for p in permissions if grants(name, p.content_type.app_label, p.content_type.model, p.codename)
        }
        held = set(group.permissions.filter(pk__in=wanted).values_list("pk", flat=True))
        group.permissions.add(*(wanted - held))
        added[name] = len(wanted - held)
    return added
