"""Auth rate limits: per e-mail, per IP + e-mail, per client IP; 429 envelope; store outages."""
import pytest
from django.test import RequestFactory

from core.api.client_ip import client_ip
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def attempt_login(client, email, ip="10.0.0.1", **extra):
    return client.post(
        "/api/v1/auth/login", {"email": email, "password": "wrong-password-x"}, format="json", REMOTE_ADDR=ip, **extra
    )


@pytest.fixture
def tight(settings):
    settings.AUTH_RATE_LIMIT = "3/m"
    settings.AUTH_IP_RATE_LIMIT = "100/m"
    return settings


def test_login_is_limited_per_email_with_a_429_envelope_and_retry_after(api_client, tight):
    user = UserFactory()
    statuses = [attempt_login(api_client, user.email).status_code for _ in range(3)]
    limited = attempt_login(api_client, user.email)

    assert statuses == [401, 401, 401]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited["X-Request-ID"] == limited.json()["error"]["request_id"]


def test_the_email_budget_holds_across_ips_and_ignores_case(api_client, tight):
    user = UserFactory()
    for n in range(3):
        attempt_login(api_client, user.email.upper() if n % 2 else user.email, ip=f"10.0.1.{n}")
    assert attempt_login(api_client, user.email, ip="10.0.9.9").status_code == 429


def test_the_correct_password_is_also_refused_once_limited(api_client, tight):
    user = UserFactory()
    for _ in range(3):
        attempt_login(api_client, user.email)
    response = api_client.post(
        "/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json", REMOTE_ADDR="10.0.0.1"
    )
    assert response.status_code == 429


def test_password_reset_is_limited_per_email(api_client, tight):
    for _ in range(3):
        ok = api_client.post("/api/v1/auth/password/reset", {"email": "a@example.com"}, format="json")
        assert ok.status_code == 202
    limited = api_client.post("/api/v1/auth/password/reset", {"email": "a@example.com"}, format="json")
    assert limited.status_code == 429
    other = api_client.post("/api/v1/auth/password/reset", {"email": "b@example.com"}, format="json")
    assert other.status_code == 202


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/auth/register", {"email": "x@example.com", "password": "short"}),
        ("/api/v1/auth/verify-email", {"token": "nope"}),
        ("/api/v1/auth/refresh", {"refresh": "nope"}),
        ("/api/v1/auth/password/reset/confirm", {"token": "nope", "new_password": "x"}),
    ],
)
def test_every_auth_endpoint_spends_the_per_ip_budget(api_client, settings, path, body):
    settings.AUTH_IP_RATE_LIMIT = "2/m"
    for _ in range(2):
        assert api_client.post(path, body, format="json", REMOTE_ADDR="10.1.1.1").status_code != 429
    assert api_client.post(path, body, format="json", REMOTE_ADDR="10.1.1.1").status_code == 429
    assert api_client.post(path, body, format="json", REMOTE_ADDR="10.1.1.2").status_code != 429


def test_a_spoofed_forwarded_for_does_not_buy_a_new_budget(api_client, settings):
    settings.AUTH_IP_RATE_LIMIT = "2/m"
    settings.TRUSTED_PROXIES = []
    for n in range(2):
        attempt_login(api_client, f"u{n}@example.com", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    assert attempt_login(api_client, "u9@example.com", HTTP_X_FORWARDED_FOR="203.0.113.99").status_code == 429


def test_clients_behind_a_trusted_proxy_have_their_own_budgets(api_client, settings):
    settings.AUTH_IP_RATE_LIMIT = "2/m"
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for n in range(2):
        attempt_login(api_client, f"u{n}@example.com", ip="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.1")
    limited = attempt_login(api_client, "u9@example.com", ip="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.1")
    other = attempt_login(api_client, "u9@example.com", ip="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.2")
    assert (limited.status_code, other.status_code) == (429, 401)


def test_rate_limits_can_be_turned_off(api_client, settings):
    settings.RATELIMIT_ENABLE = False
    settings.AUTH_RATE_LIMIT = "1/m"
    assert [attempt_login(api_client, "z@example.com").status_code for _ in range(3)] == [401, 401, 401]


@pytest.fixture
def store_down(settings):
    """The limiter's cache is a Redis server that is not there (a closed local port)."""
    settings.CACHES = {
        **settings.CACHES,
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        },
    }
    settings.RATELIMIT_USE_CACHE = "ratelimit"
    return settings


def test_with_the_store_down_login_fails_open_when_configured(api_client, store_down):
    store_down.RATELIMIT_FAIL_OPEN = True
    user = UserFactory()
    response = api_client.post("/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 200


def test_with_the_store_down_login_fails_closed_with_503_not_500(api_client, store_down):
    store_down.RATELIMIT_FAIL_OPEN = False
    response = attempt_login(api_client, "someone@example.com")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


# --- The client-IP helper ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "trusted, remote, forwarded, expected",
    [
        ([], "198.51.100.7", "203.0.113.1", "198.51.100.7"),  # no proxies trusted: header ignored
        (["10.0.0.1"], "198.51.100.7", "203.0.113.1", "198.51.100.7"),  # peer is not our proxy
        (["10.0.0.1"], "10.0.0.1", "203.0.113.1", "203.0.113.1"),
        (["10.0.0.0/8"], "10.0.0.1", "1.2.3.4, 203.0.113.1, 10.0.0.9", "203.0.113.1"),  # client-written left part
        (["10.0.0.0/8"], "10.0.0.1", "not-an-ip", "10.0.0.1"),
        (["10.0.0.0/8"], "10.0.0.1", "", "10.0.0.1"),
        (["::1"], "::1", "2001:db8::5", "2001:db8::5"),
    ],
)
def test_client_ip_trusts_forwarded_for_only_from_trusted_proxies(settings, trusted, remote, forwarded, expected):
    settings.TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
