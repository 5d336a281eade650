"""Every 4xx/5xx leaves as the error envelope of docs/api.md, with the request id and no trace."""
import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.config.urls_failing")]


def assert_envelope(response, status: int, code: str):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert isinstance(error["details"], dict)
    assert error["request_id"] == response["X-Request-ID"]
    assert error["timestamp"].endswith("Z")
    return error


def test_unknown_url_is_a_404_envelope(api_client):
    assert_envelope(api_client.get("/api/v1/does-not-exist"), 404, "NOT_FOUND")
    assert_envelope(api_client.get("/nowhere/at/all"), 404, "NOT_FOUND")


def test_method_not_allowed_on_plain_view_is_a_405_envelope(api_client):
    response = api_client.post("/health")
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert response["Allow"] == "GET"


def test_method_not_allowed_on_drf_view_is_a_405_envelope(api_client):
    assert_envelope(api_client.get("/echo"), 405, "METHOD_NOT_ALLOWED")


def test_malformed_json_is_a_400_validation_error(api_client):
    response = api_client.post("/echo", data='{"broken": ', content_type="application/json")
    assert_envelope(response, 400, "VALIDATION_ERROR")


def test_unsupported_media_type_is_a_415_envelope(api_client):
    response = api_client.post("/echo", data="a=b", content_type="application/x-www-form-urlencoded")
    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_oversized_body_is_a_413_envelope(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = '{"blob": "' + "x" * 4096 + '"}'
    response = api_client.post("/echo", data=body, content_type="application/json")
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


def test_ratelimited_is_a_429_envelope_with_retry_after(api_client):
    for _ in range(2):
        assert api_client.post("/limited", data={}, format="json").status_code == 200
    response = api_client.post("/limited", data={}, format="json")
    assert_envelope(response, 429, "RATE_LIMIT_EXCEEDED")
    assert int(response["Retry-After"]) > 0


@pytest.mark.parametrize("path", ["/boom/drf", "/boom/django"])
def test_forced_500_shows_no_trace_when_debug_is_false(api_client, settings, path):
    settings.DEBUG = False
    response = api_client.get(path)
    error = assert_envelope(response, 500, "INTERNAL_ERROR")
    body = response.content.decode()
    assert "Traceback" not in body and "SELECT" not in body and "RuntimeError" not in body
    assert error["details"] == {}


def test_an_unreachable_database_is_a_503_envelope_without_trace(api_client, unreachable_database):
    response = api_client.get("/needs-db")
    assert_envelope(response, 503, "SERVICE_UNAVAILABLE")
    assert "Traceback" not in response.content.decode()


def test_a_value_the_database_cannot_handle_is_a_400_not_a_503(api_client):
    response = api_client.get("/data-error")
    error = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert "displacement" not in error["message"]
