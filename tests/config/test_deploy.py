"""Production settings pass Django's deploy checks; headers are hardened; CORS is closed."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "prod-like-" + "k" * 60,
    "ALLOWED_HOSTS": "api.example.com",
    "SECURE_PROXY_SSL_HEADER_ENABLED": "true",
    "METRICS_TOKEN": "prod-like-metrics-token",
}


def test_check_deploy_is_clean_under_production_settings():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "SESSION_", "CSRF_"))}
    env.update(PRODUCTION_ENV)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_warns_when_metrics_have_no_token():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "SESSION_", "CSRF_", "METRICS_"))}
    env.update({k: v for k, v in PRODUCTION_ENV.items() if k != "METRICS_TOKEN"})
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                            env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "groundstation.W001" in result.stdout + result.stderr


@pytest.mark.django_db
def test_security_headers_are_present(client):
    response = client.get("/health")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_cors_is_closed_by_default(client):
    response = client.options(
        "/api/v1/tenants", HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert "Access-Control-Allow-Origin" not in response
    response = client.get("/health", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
def test_production_redirects_plain_http_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/api/v1/tenants")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    # Probes stay on plain HTTP behind the load balancer.
    assert client.get("/health").status_code == 200
