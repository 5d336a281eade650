"""The admin login spends the same auth budgets as `POST /api/v1/auth/login` (per e-mail, per
IP + e-mail, per IP) and answers a "too many attempts" page with 429 once one is spent."""
import pytest
from django.test import Client

from tests.console.factories import StaffFactory
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"


@pytest.fixture
def tight(settings):
    settings.AUTH_RATE_LIMIT = "3/m"
    settings.AUTH_IP_RATE_LIMIT = "100/m"
    return settings


def sign_in(client: Client, email: str, password: str = "wrong-password-x", ip: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": email, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip)


def test_wrong_passwords_run_out_and_then_even_the_right_one_gets_429(tight):
    operator = StaffFactory()
    client = Client()

    statuses = [sign_in(client, operator.email).status_code for _ in range(3)]
    limited = sign_in(client, operator.email, DEFAULT_PASSWORD)

    assert statuses == [200, 200, 200]  # the form again, with its error
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert "Too many sign-in attempts" in limited.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_email_budget_holds_across_ips_and_ignores_case(tight):
    operator = StaffFactory()
    client = Client()
    for n in range(3):
        sign_in(client, operator.email.upper() if n % 2 else operator.email, ip=f"10.0.1.{n}")
    assert sign_in(client, operator.email, DEFAULT_PASSWORD, ip="10.0.9.9").status_code == 429


def test_the_admin_and_the_api_share_one_budget(tight, api_client):
    operator = StaffFactory()
    for _ in range(3):
        api_client.post("/api/v1/auth/login", {"email": operator.email, "password": "nope-nope-1"}, format="json",
                        REMOTE_ADDR="10.0.0.1")
    assert sign_in(Client(), operator.email, DEFAULT_PASSWORD).status_code == 429


def test_the_per_ip_budget_covers_rotating_addresses(settings):
    settings.AUTH_RATE_LIMIT = "100/m"
    settings.AUTH_IP_RATE_LIMIT = "4/m"
    client = Client()
    statuses = [sign_in(client, f"guess{n}@example.com").status_code for n in range(5)]
    assert statuses == [200, 200, 200, 200, 429]


def test_within_the_budget_the_operator_signs_in(tight):
    operator = StaffFactory()
    client = Client()
    sign_in(client, operator.email)

    response = sign_in(client, operator.email, DEFAULT_PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(operator.pk)
    assert client.get(LOGIN).status_code == 302  # the login page itself spends nothing


def test_with_the_counter_store_down_and_failing_closed_the_login_answers_503_not_500(settings):
    settings.CACHES = {
        **settings.CACHES,
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # a closed local port
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        },
    }
    settings.RATELIMIT_USE_CACHE = "ratelimit"
    settings.RATELIMIT_FAIL_OPEN = False

    response = sign_in(Client(raise_request_exception=False), StaffFactory().email, DEFAULT_PASSWORD)

    assert response.status_code == 503
    assert "rate-limit store is unavailable" in response.content.decode()
