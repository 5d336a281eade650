"""/health never touches the database; /health/ready reports each dependency, 503 not 500."""
import pytest


def test_liveness_needs_no_database(client):
    # No django_db mark: any database access here would raise.
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readiness_is_ok_when_every_dependency_answers(client):
    response = client.get("/health/ready")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "broker": "ok"}}


def test_readiness_is_503_when_the_database_is_unreachable(client, unreachable_database):
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unavailable"


def test_readiness_is_503_when_redis_is_unreachable(client, settings, transactional_db):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == "unavailable"


@pytest.mark.django_db
def test_metrics_need_a_token_outside_debug(client, settings):
    settings.DEBUG, settings.METRICS_TOKEN = False, ""
    refused = client.get("/metrics")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
    settings.DEBUG = True
    assert client.get("/metrics").status_code == 200
    settings.DEBUG = False
    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 401
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
    assert ok.status_code == 200 and b"django_http_requests" in ok.content
