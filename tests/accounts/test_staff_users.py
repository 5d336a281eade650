"""`/api/admin/users`: staff only; list, filter, search, create, block/unblock, deactivate."""
import pytest

from accounts.models import User
from core.models import AuditEvent
from tests.conftest import bearer_client
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
USERS = "/api/admin/users"


@pytest.fixture
def staff():
    return bearer_client(UserFactory(is_staff=True, is_superuser=True))


@pytest.mark.parametrize(
    "method, path",
    [("get", ""), ("post", ""), ("get", "/{id}"), ("patch", "/{id}"), ("delete", "/{id}")],
)
def test_non_staff_get_403_and_anonymous_401(api_client, method, path):
    target = UserFactory()
    url = USERS + path.format(id=target.pk)
    assert getattr(bearer_client(UserFactory()), method)(url, {}, format="json").status_code == 403
    assert getattr(api_client, method)(url, {}, format="json").status_code == 401


def test_staff_list_filters_and_searches(staff):
    UserFactory(email="alice@corp.example", status=User.Status.BLOCKED)
    UserFactory(email="bob@corp.example")

    blocked = staff.get(USERS, {"status": "blocked"}).json()
    searched = staff.get(USERS + "/", {"search": "bob@"}).json()

    assert [u["email"] for u in blocked["results"]] == ["alice@corp.example"]
    assert [u["email"] for u in searched["results"]] == ["bob@corp.example"]
    assert "password" not in searched["results"][0]


def test_staff_create_a_service_user_that_needs_no_verification(staff):
    response = staff.post(USERS, {"email": "Bot@Corp.example", "name": "CI bot", "type": "service"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "bot@corp.example"
    assert body["verification_status"] == "not_required"
    assert not User.objects.get(pk=body["id"]).has_usable_password()


def test_staff_create_rejects_duplicates_and_weak_passwords(staff):
    UserFactory(email="dup@example.com")
    assert staff.post(USERS, {"email": "DUP@example.com"}, format="json").status_code == 400
    assert staff.post(USERS, {"email": "new@example.com", "password": "123"}, format="json").status_code == 400


def test_staff_block_ends_sessions_and_unblock_restores_sign_in(api_client, staff):
    user = UserFactory()
    session = api_client.post(
        "/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json"
    ).json()

    blocked = staff.patch(f"{USERS}/{user.pk}", {"status": "blocked"}, format="json")

    assert blocked.status_code == 200 and blocked.json()["status"] == "blocked"
    assert api_client.post("/api/v1/auth/refresh", {"refresh": session["refresh"]}, format="json").status_code == 401
    assert AuditEvent.objects.filter(action="user.status.blocked", target_id=str(user.pk)).exists()
    assert staff.patch(f"{USERS}/{user.pk}/", {"status": "active"}, format="json").json()["status"] == "active"
    relogin = api_client.post("/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")
    assert relogin.status_code == 200


def test_staff_delete_deactivates_instead_of_deleting(staff):
    user = UserFactory()
    assert staff.delete(f"{USERS}/{user.pk}").status_code == 204
    user.refresh_from_db()
    assert user.status == User.Status.INACTIVE


def test_staff_cannot_change_an_email_and_bad_status_is_400(staff):
    user = UserFactory(email="fixed@example.com")
    staff.patch(f"{USERS}/{user.pk}", {"email": "moved@example.com"}, format="json")
    user.refresh_from_db()
    assert user.email == "fixed@example.com"
    assert staff.patch(f"{USERS}/{user.pk}", {"status": "zombie"}, format="json").status_code == 400


def test_an_unknown_user_id_is_404(staff):
    assert staff.get(f"{USERS}/00000000-0000-0000-0000-000000000000").status_code == 404
    assert staff.get(f"{USERS}/not-a-uuid").status_code == 404
