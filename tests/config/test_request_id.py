import io
import json
import logging

import pytest

pytestmark = pytest.mark.django_db


def test_a_sane_incoming_request_id_is_echoed(api_client):
    response = api_client.get("/health", HTTP_X_REQUEST_ID="client-req-12345678")
    assert response["X-Request-ID"] == "client-req-12345678"


def test_an_insane_request_id_is_replaced(api_client):
    response = api_client.get("/health", HTTP_X_REQUEST_ID="bad id\r\nInjected: yes")
    assert response["X-Request-ID"] != "bad id\r\nInjected: yes"
    assert len(response["X-Request-ID"]) == 32


def test_a_request_id_is_generated_when_missing_and_used_in_the_envelope(api_client):
    first = api_client.get("/api/v1/missing")
    second = api_client.get("/api/v1/missing")
    assert first["X-Request-ID"] != second["X-Request-ID"]
    assert first.json()["error"]["request_id"] == first["X-Request-ID"]


@pytest.fixture
def captured_log_lines():
    """Formats records exactly as production does (JSON lines), into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.getLogger().handlers[0].formatter)
    root = logging.getLogger()
    access = logging.getLogger("groundstation.access")  # its own handler and formatter
    access_handler = logging.StreamHandler(stream)
    access_handler.setFormatter(access.handlers[0].formatter)
    previous_level = access.level
    access.setLevel(logging.INFO)
    root.addHandler(handler)
    access.addHandler(access_handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    access.removeHandler(access_handler)
    access.setLevel(previous_level)


def test_every_log_line_of_a_request_carries_its_id(api_client, captured_log_lines):
    api_client.get("/health", HTTP_X_REQUEST_ID="trace-me-0000001")
    access = [line for line in captured_log_lines() if line["event"] == "request"]
    assert access[-1]["request_id"] == "trace-me-0000001"
    assert access[-1]["status"] == 200 and access[-1]["method"] == "GET"
    assert access[-1]["duration_ms"] >= 0


def test_credentials_never_reach_the_log(captured_log_lines):
    logger = logging.getLogger("groundstation.test")
    logger.warning("auth header was Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl and key gsk_abcdefghijkl_secretpart")
    logger.warning("structured", extra={"password": "hunter2", "authorization": "Bearer abc"})
    text = json.dumps(captured_log_lines())
    for secret in ("eyJhbGciOi", "gsk_abcdefghijkl_secretpart", "hunter2", "Bearer abc"):
        assert secret not in text


def test_access_lines_are_redacted_like_every_other_line(api_client, captured_log_lines):
    api_client.get("/api/v1/gsk_abcdefghijkl_secretpart/x", HTTP_X_REQUEST_ID="trace-me-0000002")
    access = [line for line in captured_log_lines() if line["event"] == "request"]
    assert access[-1]["request_id"] == "trace-me-0000002"
    assert {"timestamp", "level", "logger", "method", "path", "route", "status", "duration_ms"} <= set(access[-1])
    assert "secretpart" not in json.dumps(access)
