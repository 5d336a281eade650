"""Security-relevant changes are audited by the services, so the API and the console's admin
actions leave the same record: who, what, which tenant, the request id, before/after, and no
secret."""
import json

import pytest
from django.test import Client

from apikeys.models import ApiKey
from core.models import AuditEvent
from orchestration.models import Cluster
from tenants import services as tenant_services
from tenants.models import Invitation, Membership, Tenant
from tenants.policy import Role
from tests.apikeys.factories import make_key
from tests.conftest import bearer_client
from tests.console.factories import StaffFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REQUEST_ID = "audit-req-0001"
CLUSTER_YAML = "name: nightly\nsteps:\n  - id: hello\n    satellite: echo\n    inputs: {message: hi}\n"


@pytest.fixture
def staff(db):
    return StaffFactory(is_superuser=True, email="ops@example.com")


@pytest.fixture
def console(staff) -> Client:
    client = Client(raise_request_exception=False, HTTP_X_REQUEST_ID=REQUEST_ID)
    client.force_login(staff)
    return client


@pytest.fixture
def staff_api(staff):
    client = bearer_client(staff)
    client.defaults["HTTP_X_REQUEST_ID"] = REQUEST_ID
    return client


@pytest.fixture
def owner_api(owner, tenant):
    client = bearer_client(owner, tenant)
    client.defaults["HTTP_X_REQUEST_ID"] = REQUEST_ID
    return client


def only_event(action: str) -> AuditEvent:
    events = list(AuditEvent.objects.filter(action=action))
    assert len(events) == 1, [e.action for e in AuditEvent.objects.all()]
    return events[0]


def assert_recorded(event: AuditEvent, *, actor, tenant, target, secrets=()) -> None:
    assert event.actor_id == actor.pk
    assert event.tenant_id == (tenant.pk if tenant else None)
    assert (event.target_type, event.target_id) == (target._meta.label_lower, str(target.pk))
    assert event.request_id == REQUEST_ID
    assert event.created_at is not None
    dumped = json.dumps(event.changes)
    for secret in secrets:
        assert secret not in dumped
    assert "digest" not in dumped


def inline_data(page) -> dict:
    """The inline formsets' management and row fields of a change page, as the browser posts them."""
    data = {}
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        for field in formset.management_form:
            data[field.html_name] = field.value()
        for form in formset.forms:
            for field in form:
                if field.value() is not None:
                    data[field.html_name] = field.value()
    return data


def admin_action(console: Client, changelist: str, action: str, pks) -> None:
    """Run an action as confirmed ("post": "yes" is what the confirmation page sends)."""
    data = {"action": action, "_selected_action": [str(pk) for pk in pks], "post": "yes"}
    response = console.post(changelist, data)
    assert response.status_code in (200, 302), response.content[:500]  # 200: a page of new secrets


# --- API keys ---------------------------------------------------------------------------------
def test_key_creation_through_the_api_is_audited_without_the_secret(owner_api, owner, tenant):
    response = owner_api.post("/api/v1/api-keys", {"name": "ci", "scopes": ["read"]}, format="json")
    assert response.status_code == 201
    secret = response.json()["key"]
    key = ApiKey.objects.get(pk=response.json()["id"])
    event = only_event("api_key.create")
    assert_recorded(event, actor=owner, tenant=tenant, target=key, secrets=[secret, key.digest])
    assert event.changes == {"name": "ci", "scopes": ["read"], "rate_limit": ""}
    assert response["X-Request-ID"] == REQUEST_ID


def test_key_revocation_through_the_api_is_audited(owner_api, owner, tenant):
    key, secret = make_key(tenant)
    assert owner_api.delete(f"/api/v1/api-keys/{key.pk}").status_code == 204
    assert_recorded(only_event("api_key.revoke"), actor=owner, tenant=tenant, target=key, secrets=[secret])


def test_key_revocation_through_the_admin_action_is_audited(console, staff, tenant):
    key, secret = make_key(tenant)
    admin_action(console, "/admin/apikeys/apikey/", "revoke_keys", [key.pk])
    assert_recorded(only_event("api_key.revoke"), actor=staff, tenant=tenant, target=key, secrets=[secret])


def test_key_rotation_through_the_api_is_audited_without_either_secret(owner_api, owner, tenant):
    key, old_secret = make_key(tenant)
    response = owner_api.post(f"/api/v1/api-keys/{key.pk}/rotate")
    assert response.status_code == 200
    assert_recorded(only_event("api_key.rotate"), actor=owner, tenant=tenant, target=key,
                    secrets=[old_secret, response.json()["key"]])


def test_key_rotation_through_the_admin_action_is_audited(console, staff, tenant):
    key, old_secret = make_key(tenant)
    admin_action(console, "/admin/apikeys/apikey/", "rotate_keys", [key.pk])
    assert_recorded(only_event("api_key.rotate"), actor=staff, tenant=tenant, target=key, secrets=[old_secret])


def test_scope_changes_through_the_api_record_the_new_scopes(owner_api, owner, tenant):
    key, _ = make_key(tenant, scopes=["read"])
    response = owner_api.patch(f"/api/v1/api-keys/{key.pk}", {"scopes": ["read", "write"]}, format="json")
    assert response.status_code == 200
    event = only_event("api_key.update")
    assert_recorded(event, actor=owner, tenant=tenant, target=key)
    assert event.changes == {"scopes": ["read", "write"]}


# --- Memberships and roles --------------------------------------------------------------------
def test_membership_add_role_change_and_removal_through_the_api_are_audited(owner_api, owner, tenant):
    newcomer = UserFactory()
    assert owner_api.post(f"/api/v1/tenants/{tenant.slug}/members",
                          {"user_id": str(newcomer.pk), "role": "viewer"}, format="json").status_code == 202
    invitation = Invitation.objects.get(tenant=tenant, email=newcomer.email)
    event = only_event("invitation.create")  # adding someone invites them
    assert_recorded(event, actor=owner, tenant=tenant, target=invitation)
    assert event.changes == {"email": newcomer.email, "role": "viewer"}
    membership = tenant_services.invitation_accept(token=tenant_services.invitation_token(invitation), user=newcomer)

    assert owner_api.patch(f"/api/v1/tenants/{tenant.slug}/members/{newcomer.pk}",
                           {"role": "operator"}, format="json").status_code == 200
    event = only_event("membership.role")
    assert_recorded(event, actor=owner, tenant=tenant, target=membership)
    assert event.changes == {"user": str(newcomer.pk), "role": ["viewer", "operator"]}

    assert owner_api.delete(f"/api/v1/tenants/{tenant.slug}/members/{newcomer.pk}").status_code == 204
    event = only_event("membership.delete")
    assert_recorded(event, actor=owner, tenant=tenant, target=membership)
    assert event.changes == {"user": str(newcomer.pk), "role": "operator"}


def test_a_role_change_in_the_admin_is_audited(console, staff, tenant, make_member):
    user = make_member(tenant, Role.MEMBER)
    membership = Membership.objects.get(tenant=tenant, user=user)
    response = console.post(f"/admin/tenants/membership/{membership.pk}/change/", {"role": "admin"})
    assert response.status_code == 302
    event = only_event("membership.role")
    assert_recorded(event, actor=staff, tenant=tenant, target=membership)
    assert event.changes == {"user": str(user.pk), "role": ["member", "admin"]}


# --- Tenant status ----------------------------------------------------------------------------
def test_suspending_a_tenant_through_the_staff_api_is_audited(staff_api, staff, tenant):
    response = staff_api.patch(f"/api/admin/tenants/{tenant.pk}", {"status": "suspended"}, format="json")
    assert response.status_code == 200
    event = only_event("tenant.status.suspended")
    assert_recorded(event, actor=staff, tenant=tenant, target=tenant)
    assert event.changes == {"status": ["active", "suspended"]}


@pytest.mark.parametrize(("action", "start", "end"), [("suspend", "active", "suspended"),
                                                      ("reactivate", "suspended", "active")])
def test_tenant_status_admin_actions_are_audited(console, staff, tenant, action, start, end):
    Tenant.objects.filter(pk=tenant.pk).update(status=start)
    admin_action(console, "/admin/tenants/tenant/", action, [tenant.pk])
    event = only_event(f"tenant.status.{end}")
    assert_recorded(event, actor=staff, tenant=tenant, target=tenant)
    assert event.changes == {"status": [start, end]}


# --- User status ------------------------------------------------------------------------------
def test_blocking_a_user_through_the_staff_api_is_audited(staff_api, staff):
    user = UserFactory()
    assert staff_api.patch(f"/api/admin/users/{user.pk}", {"status": "blocked"}, format="json").status_code == 200
    event = only_event("user.status.blocked")
    assert_recorded(event, actor=staff, tenant=None, target=user)
    assert event.changes == {"status": ["active", "blocked"]}


def test_deactivating_a_user_through_the_staff_api_is_audited(staff_api, staff):
    user = UserFactory()
    assert staff_api.delete(f"/api/admin/users/{user.pk}").status_code == 204
    event = only_event("user.status.inactive")
    assert_recorded(event, actor=staff, tenant=None, target=user)
    assert event.changes == {"status": ["active", "inactive"]}


@pytest.mark.parametrize(("action", "start", "end"), [("block_users", "active", "blocked"),
                                                      ("unblock_users", "blocked", "active")])
def test_user_status_admin_actions_are_audited(console, staff, action, start, end):
    user = UserFactory(status=start)
    admin_action(console, "/admin/accounts/user/", action, [user.pk])
    event = only_event(f"user.status.{end}")
    assert_recorded(event, actor=staff, tenant=None, target=user)
    assert event.changes == {"status": [start, end]}


# --- Cluster definitions ----------------------------------------------------------------------
def test_cluster_definition_changes_through_the_api_are_audited(owner_api, owner, tenant):
    response = owner_api.post("/api/v1/clusters", {"definition": CLUSTER_YAML}, format="json")
    assert response.status_code == 201, response.json()
    cluster = Cluster.objects.get(pk=response.json()["id"])
    event = only_event("cluster.create")
    assert_recorded(event, actor=owner, tenant=tenant, target=cluster)
    assert event.changes == {"name": "nightly"}

    changed = CLUSTER_YAML.replace("hi", "hello")
    assert owner_api.put(f"/api/v1/clusters/{cluster.pk}", {"definition": changed},
                         format="json").status_code == 200
    event = only_event("cluster.update")
    assert_recorded(event, actor=owner, tenant=tenant, target=cluster)
    assert event.changes["version"] == [1, 2]  # before, after

    assert owner_api.delete(f"/api/v1/clusters/{cluster.pk}").status_code == 204
    assert_recorded(only_event("cluster.delete"), actor=owner, tenant=tenant, target=cluster)


# --- The audit log in the console -------------------------------------------------------------
def test_the_audit_log_is_filterable_per_tenant_and_read_only(console, tenant, other_tenant):
    make_key(tenant, name="ours")
    make_key(other_tenant, name="theirs")
    page = console.get(f"/admin/core/auditevent/?tenant_id={tenant.pk}")
    assert page.status_code == 200
    rows = list(page.context["cl"].result_list)
    assert rows and {row.tenant_id for row in rows} == {tenant.pk}
    event = rows[0]
    detail = console.get(f"/admin/core/auditevent/{event.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert console.post(f"/admin/core/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_a_cluster_definition_saved_in_the_admin_is_audited(console, staff, tenant):
    response = console.post("/admin/orchestration/cluster/add/", {"tenant": str(tenant.pk), "definition": CLUSTER_YAML})
    assert response.status_code == 302, response.content[:800]
    cluster = Cluster.objects.get(tenant=tenant, name="nightly")
    assert_recorded(only_event("cluster.create"), actor=staff, tenant=tenant, target=cluster)

    url = f"/admin/orchestration/cluster/{cluster.pk}/change/"
    changed = CLUSTER_YAML.replace("hi", "hello")
    response = console.post(url, inline_data(console.get(url)) | {"definition": changed})
    assert response.status_code == 302, response.content[:800]
    event = only_event("cluster.update")
    assert_recorded(event, actor=staff, tenant=tenant, target=cluster)
    assert event.changes["version"] == [1, 2]  # before, after
