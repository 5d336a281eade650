"""The operator groups exist after migrate, hold sensible permissions, and pick up the
permissions of models added later (post_migrate sync), without taking hand-made grants away."""
import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from console.permissions import OPERATORS_GROUP, READ_ONLY_GROUP
from console.signals import sync_operator_groups
from tests.console.factories import StaffFactory

pytestmark = pytest.mark.django_db


def perms(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def staff_in(group_name: str) -> Client:
    user = StaffFactory()
    user.groups.add(Group.objects.get(name=group_name))
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_both_groups_exist_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= {READ_ONLY_GROUP, OPERATORS_GROUP}


def test_read_only_operators_can_only_view():
    granted = perms(READ_ONLY_GROUP)
    assert {"monitoring.view_node", "orchestration.view_run", "apikeys.view_apikey", "core.view_auditevent",
            "accounts.view_user", "tenants.view_tenant"} <= granted
    assert all(codename.split(".", 1)[1].startswith("view_") for codename in granted)


@pytest.mark.parametrize(
    ("permission", "granted"),
    [
        ("monitoring.add_node", True),
        ("monitoring.change_node", True),
        ("monitoring.delete_node", True),
        ("monitoring.change_incident", True),
        ("orchestration.change_run", True),
        ("orchestration.change_cluster", True),
        ("django_celery_beat.change_periodictask", True),
        ("tenants.change_tenant", True),
        ("tenants.suspend_tenant", True),  # the custom permission behind suspend / reactivate
        ("accounts.change_user", True),  # block / unblock
        ("apikeys.change_apikey", True),  # revoke / rotate
        ("tenants.change_membership", True),
        ("tenants.delete_tenant", False),
        ("accounts.add_user", False),
        ("accounts.delete_user", False),
        ("apikeys.add_apikey", False),  # secrets are minted through the API, shown to their owner
        ("core.change_auditevent", False),  # the audit log is a record
        ("core.delete_auditevent", False),
        ("apikeys.delete_apicall", False),
        ("monitoring.delete_snapshot", False),
        ("auth.change_group", False),  # no way to raise one's own privileges
        ("auth.add_permission", False),
        ("sessions.view_session", False),
    ],
)
def test_operators_hold_a_working_set_without_escalation(permission, granted):
    assert (permission in perms(OPERATORS_GROUP)) is granted


def test_a_new_models_permissions_reach_the_groups_on_post_migrate():
    content_type, _ = ContentType.objects.get_or_create(app_label="monitoring", model="probe")
    for action in ("view", "change"):
        Permission.objects.create(content_type=content_type, codename=f"{action}_probe", name=f"Can {action} probe")
    sync_operator_groups(sender=apps.get_app_config("monitoring"), using="default")
    assert "monitoring.view_probe" in perms(READ_ONLY_GROUP)
    assert "monitoring.change_probe" not in perms(READ_ONLY_GROUP)
    assert {"monitoring.view_probe", "monitoring.change_probe"} <= perms(OPERATORS_GROUP)


def test_the_sync_keeps_permissions_granted_by_hand():
    group = Group.objects.get(name=READ_ONLY_GROUP)
    extra = Permission.objects.get(content_type__app_label="monitoring", codename="change_node")
    group.permissions.add(extra)
    sync_operator_groups(sender=apps.get_app_config("monitoring"), using="default")
    assert "monitoring.change_node" in perms(READ_ONLY_GROUP)


def test_a_read_only_operator_sees_pages_but_cannot_save(tenant):
    client = staff_in(READ_ONLY_GROUP)
    assert client.get("/admin/tenants/tenant/").status_code == 200
    page = client.get(f"/admin/tenants/tenant/{tenant.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    response = client.post(f"/admin/tenants/tenant/{tenant.pk}/change/", {"name": "Renamed"})
    assert response.status_code == 403
    tenant.refresh_from_db()
    assert tenant.name != "Renamed"


def test_staff_outside_the_groups_see_no_models():
    client = Client(raise_request_exception=False)
    client.force_login(StaffFactory())
    assert client.get("/admin/tenants/tenant/").status_code == 403
    assert client.get("/admin/dashboard/").status_code == 200  # aggregates only



def test_the_sync_command_restores_a_stripped_group():
    from io import StringIO

    from django.core.management import call_command

    Group.objects.get(name=OPERATORS_GROUP).permissions.clear()
    out = StringIO()
    call_command("sync_operator_groups", stdout=out)
    assert "monitoring.change_node" in perms(OPERATORS_GROUP)
    assert f"{READ_ONLY_GROUP}: 0 permission(s) added" in out.getvalue()
