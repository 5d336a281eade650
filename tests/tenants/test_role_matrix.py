"""Who may do what on the tenant endpoints (tenant, members, invitations): `tests.matrix`."""
from tenants.policy import Action, Role
from tests.factories import MembershipFactory, UserFactory
from tests.matrix import Case, PermissionMatrix
from tests.tenants.factories import InvitationFactory

TENANT = "/api/v1/tenants/{slug}"


class TestTenantEndpoints(PermissionMatrix):
    cases = [
        Case("tenant.retrieve", "get", TENANT, Action.READ, 200),
        Case("tenant.update", "patch", TENANT, Action.ADMINISTER, 200, {"name": "Renamed"}),
        Case("tenant.delete", "delete", TENANT, Action.OWN, 204),
        Case("members.list", "get", TENANT + "/members", Action.READ, 200),
        Case("members.add", "post", TENANT + "/members", Action.ADMINISTER, 202,
             {"email": "{newcomer}", "role": "viewer"}),
        # `viewer` → `viewer`: an `admin`-only key grants nothing above viewer (test_key_ceiling.py).
        Case("members.change_role", "patch", TENANT + "/members/{target}", Action.ADMINISTER, 200,
             {"role": "viewer"}),
        Case("members.remove", "delete", TENANT + "/members/{target}", Action.ADMINISTER, 204),
        Case("invitations.list", "get", TENANT + "/invitations", Action.ADMINISTER, 200),
        Case("invitations.create", "post", TENANT + "/invitations", Action.ADMINISTER, 201,
             {"email": "fresh@example.com", "role": "viewer"}),
        Case("invitations.revoke", "delete", TENANT + "/invitations/{invitation}", Action.ADMINISTER, 204),
    ]

    def make_data(self, tenant, actor):
        return {
            "target": MembershipFactory(tenant=tenant, role=Role.VIEWER, user=UserFactory(password=None)).user.pk,
            "newcomer": UserFactory(password=None).email,
            "invitation": InvitationFactory(tenant=tenant).pk,
        }


def test_the_matrix_covers_every_action_the_tenant_endpoints_use():
    assert {c.action for c in TestTenantEndpoints.cases} == {Action.READ, Action.ADMINISTER, Action.OWN}
