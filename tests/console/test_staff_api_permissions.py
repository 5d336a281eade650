"""`/api/admin/*` obeys the same Django model permissions as the admin: every endpoint × the
four kinds of staff, from one table. Only superusers grant or revoke `is_staff`."""
import pytest
from django.contrib.auth.models import Group, Permission

from accounts.models import User
from console.permissions import OPERATORS_GROUP, READ_ONLY_GROUP
from tenants.models import Plan, Tenant
from tests.conftest import bearer_client
from tests.console.factories import StaffFactory
from tests.factories import PlanFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

SUPER, OPERATOR, READ_ONLY, NO_PERMS = "superuser", "operator", "read_only", "no_perms"
ALL = (SUPER, OPERATOR, READ_ONLY, NO_PERMS)
VIEWERS = (SUPER, OPERATOR, READ_ONLY)
CHANGERS = (SUPER, OPERATOR)

# (name, method, path, body, who succeeds, success status). `{user}`, `{tenant}`, `{plan}`
# are rows made fresh for each case.
TABLE = [
    ("users.list", "get", "/api/admin/users", None, VIEWERS, 200),
    ("users.retrieve", "get", "/api/admin/users/{user}", None, VIEWERS, 200),
    ("users.create", "post", "/api/admin/users", {"email": "new@example.com"}, (SUPER,), 201),
    ("users.create_staff", "post", "/api/admin/users", {"email": "new@example.com", "is_staff": True}, (SUPER,), 201),
    ("users.rename", "patch", "/api/admin/users/{user}", {"name": "Renamed"}, CHANGERS, 200),
    ("users.block", "patch", "/api/admin/users/{user}", {"status": "blocked"}, CHANGERS, 200),
    ("users.grant_staff", "patch", "/api/admin/users/{user}", {"is_staff": True}, (SUPER,), 200),
    ("users.revoke_staff", "patch", "/api/admin/users/{staff}", {"is_staff": False}, (SUPER,), 200),
    ("users.deactivate", "delete", "/api/admin/users/{user}", None, (SUPER,), 204),
    ("tenants.list", "get", "/api/admin/tenants", None, VIEWERS, 200),
    ("tenants.retrieve", "get", "/api/admin/tenants/{tenant}", None, VIEWERS, 200),
    ("tenants.create", "post", "/api/admin/tenants", {"name": "New", "slug": "new"}, (SUPER,), 201),
    ("tenants.rename", "patch", "/api/admin/tenants/{tenant}", {"name": "Renamed"}, CHANGERS, 200),
    ("tenants.replace", "put", "/api/admin/tenants/{tenant}", {"name": "Renamed"}, CHANGERS, 200),
    ("tenants.suspend", "patch", "/api/admin/tenants/{tenant}", {"status": "suspended"}, CHANGERS, 200),
    ("tenants.mark_deleted", "patch", "/api/admin/tenants/{tenant}", {"status": "deleted"}, (SUPER,), 200),
    ("tenants.create_suspended", "post", "/api/admin/tenants", {"name": "N", "slug": "n", "status": "suspended"},
     (SUPER,), 201),
    ("tenants.delete", "delete", "/api/admin/tenants/{tenant}", None, (SUPER,), 204),
    ("plans.list", "get", "/api/admin/plans", None, VIEWERS, 200),
    ("plans.retrieve", "get", "/api/admin/plans/{plan}", None, VIEWERS, 200),
    ("plans.create", "post", "/api/admin/plans", {"name": "Pro", "slug": "pro", "rates": ["10/m"]}, (SUPER,), 201),
    ("plans.change", "patch", "/api/admin/plans/{plan}", {"rates": ["10/m"]}, CHANGERS, 200),
    ("plans.delete", "delete", "/api/admin/plans/{plan}", None, (SUPER,), 204),
]


def staff_of_kind(kind: str) -> User:
    user = StaffFactory(is_superuser=kind == SUPER)
    group = {OPERATOR: OPERATORS_GROUP, READ_ONLY: READ_ONLY_GROUP}.get(kind)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def snapshot() -> tuple:
    """Everything a refused call could have changed."""
    return (
        sorted(User.objects.values_list("email", "name", "status", "is_staff")),
        sorted(Tenant.objects.values_list("slug", "name", "status")),
        sorted((p.slug, p.rates) for p in Plan.objects.all()),
    )


@pytest.mark.parametrize("kind", ALL)
@pytest.mark.parametrize(("name", "method", "path", "body", "allowed", "ok"), TABLE, ids=[row[0] for row in TABLE])
def test_staff_api_follows_the_permission_table(kind, name, method, path, body, allowed, ok):
    rows = {"user": UserFactory(), "staff": StaffFactory(), "tenant": TenantFactory(), "plan": PlanFactory()}
    url = path.format(**{key: row.pk for key, row in rows.items()})
    client = bearer_client(staff_of_kind(kind))
    before = snapshot()

    response = getattr(client, method)(url, body, format="json")

    if kind in allowed:
        assert response.status_code == ok, response.content
    else:
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] == "FORBIDDEN"
        assert snapshot() == before


def test_suspending_needs_the_suspend_permission_not_only_change():
    user = StaffFactory()
    user.user_permissions.add(Permission.objects.get(codename="change_tenant"))
    tenant = TenantFactory()
    client = bearer_client(user)

    assert client.patch(f"/api/admin/tenants/{tenant.pk}", {"name": "Renamed"}, format="json").status_code == 200
    assert client.patch(f"/api/admin/tenants/{tenant.pk}", {"status": "suspended"}, format="json").status_code == 403
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.ACTIVE


def test_an_operator_cannot_block_a_superuser():
    root = StaffFactory(is_superuser=True)
    client = bearer_client(staff_of_kind(OPERATOR))

    assert client.patch(f"/api/admin/users/{root.pk}", {"status": "blocked"}, format="json").status_code == 403
    root.refresh_from_db()
    assert root.status == User.Status.ACTIVE


def test_a_superuser_without_is_staff_is_not_staff():
    client = bearer_client(UserFactory(is_superuser=True))
    assert client.get("/api/admin/users").status_code == 403
