"""/health never touches the database; /health/ready reports each dependency, 503 not 500."""
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring import services


def test_liveness_needs_no_database(client):
    # No django_db mark: any database access here would raise.
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readiness_is_ok_when_every_dependency_answers(client):
    response = client.get("/health/ready")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "broker": "ok", "beat": "unknown"},  # never seen: a fresh install
    }


@pytest.mark.django_db
def test_readiness_is_503_with_beat_stale_when_its_last_heartbeat_is_too_old(client, settings):
    settings.BEAT_STALE_AFTER_SECONDS = 90
    beat = services.heartbeat_record(key="beat", sent_at=timezone.now(), worker="w1@host")
    response = client.get("/health/ready")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["beat"] == "ok"

    type(beat).objects.filter(pk=beat.pk).update(seen_at=timezone.now() - timedelta(seconds=91))
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "cache": "ok", "broker": "ok", "beat": "stale"},
    }


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
