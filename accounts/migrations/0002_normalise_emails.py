"""Stores every address in the one normal form (`accounts.addresses.normalize_email`).

Rows written before it existed were only lower-cased, so a look-alike (`ınv.x@…` next to
`inv.x@…`) could have its own account. Rows are normalised oldest first; a row whose normal
form is already taken (by a row stored in it, or an older one) is left as it was (it can no
longer be signed in to by its address) and counted in the output, for staff to look at. Pending invitations are normalised too.
"""
from django.db import migrations

from accounts.addresses import normalize_email


def normalise_emails(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    Invitation = apps.get_model("tenants", "Invitation")
    changed, collisions = [], 0
    users = list(User.objects.order_by("created_at", "pk").only("pk", "email"))
    taken = {user.email for user in users if normalize_email(user.email) == user.email}
    for user in users:
        normal = normalize_email(user.email)
        if normal == user.email:
            continue
        if normal in taken:
            collisions += 1
            continue
        taken.add(normal)
        user.email = normal
        changed.append(user)
    User.objects.bulk_update(changed, ["email"], batch_size=500)
    invitations = [
        invitation for invitation in Invitation.objects.filter(accepted_at__isnull=True).only("pk", "email")
        if normalize_email(invitation.email) != invitation.email
    ]
    for invitation in invitations:
        invitation.email = normalize_email(invitation.email)
    Invitation.objects.bulk_update(invitations, ["email"], batch_size=500)
    if collisions:
        print(f"\n  {collisions} account(s) left with a look-alike address whose normal form is taken.")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("tenants", "0003_tenant_suspend_permission"),
    ]

    operations = [migrations.RunPython(normalise_emails, migrations.RunPython.noop)]
