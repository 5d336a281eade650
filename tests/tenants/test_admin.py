"""The admin: operators' actions go through the same services (and audit) as the API."""
import pytest
from django.test import Client

from accounts.models import PersonalAccessToken, User
from accounts.services import personal_token_create
from core.models import AuditEvent
from tenants.models import Membership, Tenant
from tenants.policy import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return User.objects.create_superuser(email="root@example.com", password="operator-passphrase-1")


@pytest.fixture
def console(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


def run_action(console, changelist: str, action: str, objects) -> None:
    # "post": "yes" confirms destructive actions, as the console's confirmation page does.
    response = console.post(
        changelist, {"action": action, "_selected_action": [str(o.pk) for o in objects], "post": "yes"}
    )
    assert response.status_code == 302, response.content[:500]


def test_block_unblock_and_verify_users_from_the_admin(console, operator):
    user = UserFactory(verification_status=User.Verification.NOT_VERIFIED)

    run_action(console, "/admin/accounts/user/", "block_users", [user])
    user.refresh_from_db()
    assert user.status == User.Status.BLOCKED
    run_action(console, "/admin/accounts/user/", "unblock_users", [user])
    run_action(console, "/admin/accounts/user/", "mark_verified", [user])

    user.refresh_from_db()
    assert (user.status, user.verification_status) == ("active", "verified")
    actions = list(AuditEvent.objects.filter(actor=operator).values_list("action", flat=True))
    assert {"user.status.blocked", "user.status.active", "user.verify_email"} <= set(actions)


def test_user_search_and_filters_render(console):
    UserFactory(email="findme@example.com")
    page = console.get("/admin/accounts/user/", {"q": "findme", "status__exact": "active"})
    assert page.status_code == 200
    assert b"findme@example.com" in page.content


def test_suspend_and_reactivate_tenants_from_the_admin(console, tenant):
    run_action(console, "/admin/tenants/tenant/", "suspend", [tenant])
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.SUSPENDED
    run_action(console, "/admin/tenants/tenant/", "reactivate", [tenant])
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.ACTIVE
    assert AuditEvent.objects.filter(tenant_id=tenant.pk, action="tenant.status.suspended").exists()


def test_the_tenant_page_shows_members_and_billing(console, tenant, owner):
    tenant.billing_account = {"company_name": "Initech", "country": "US"}
    tenant.save()
    page = console.get(f"/admin/tenants/tenant/{tenant.pk}/change/")
    assert page.status_code == 200
    assert b"Initech" in page.content
    assert owner.email.encode() in page.content or str(owner.pk).encode() in page.content


def test_the_admin_cannot_remove_the_last_owner(console, tenant, owner):
    membership = Membership.objects.get(tenant=tenant, user=owner)
    console.post(f"/admin/tenants/membership/{membership.pk}/delete/", {"post": "yes"})
    assert Membership.objects.filter(pk=membership.pk, role=Role.OWNER).exists()


def test_the_admin_creates_a_tenant_through_the_service(console, operator):
    response = console.post(
        "/admin/tenants/tenant/add/",
        {"name": "Hooli", "slug": "hooli", "billing_account": '{"country": "us"}', "plan": "",
         "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"},
    )
    assert response.status_code == 302, response.content[:2000]
    tenant = Tenant.objects.get(slug="hooli")
    assert tenant.billing_account["country"] == "US"
    assert AuditEvent.objects.filter(action="tenant.create", tenant_id=tenant.pk, actor=operator).exists()


def test_the_admin_rejects_an_invalid_billing_account(console):
    response = console.post(
        "/admin/tenants/tenant/add/",
        {"name": "Bad", "slug": "bad", "billing_account": '{"country": "ZZ"}', "plan": "",
         "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"},
    )
    assert response.status_code == 200
    assert not Tenant.objects.filter(slug="bad").exists()


def test_personal_tokens_are_read_only_and_never_show_the_digest(console):
    token, raw = personal_token_create(user=UserFactory(), name="laptop")
    page = console.get(f"/admin/accounts/personalaccesstoken/{token.pk}/change/")
    assert page.status_code == 200
    assert token.digest.encode() not in page.content
    assert raw.encode() not in page.content
    run_action(console, "/admin/accounts/personalaccesstoken/", "revoke", [token])
    assert PersonalAccessToken.objects.get(pk=token.pk).revoked_at is not None


def test_audit_events_are_read_only(console, tenant):
    MembershipFactory(tenant=tenant)
    assert console.get("/admin/core/auditevent/").status_code == 200
    assert console.get("/admin/core/auditevent/add/").status_code == 403


@pytest.mark.parametrize("address", ["TAKEIN@Example.com", "takeın@example.com"])
def test_the_admin_refuses_a_new_user_whose_address_is_taken_in_any_spelling(console, address):
    UserFactory(email="takein@example.com")
    response = console.post(
        "/admin/accounts/user/add/",
        {"email": address, "name": "", "type": "human", "usable_password": "false"},
    )
    assert response.status_code == 200  # the form again, with the error
    assert "already exists" in response.content.decode()
    assert User.objects.count() == 2  # the operator and the existing account
