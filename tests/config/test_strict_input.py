"""API-wide input rules: JSON types are strict, typed filters and page_size are validated."""
import pytest

from tests.conftest import bearer_client
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("query", ["enabled=maybe", "enabled=", "enabled=true&enabled=false"])
def test_a_malformed_boolean_filter_is_a_400_naming_the_parameter(owner, tenant, query):
    response = bearer_client(owner, tenant).get(f"/api/v1/alert-channels?{query}")
    assert response.status_code == 400
    assert "enabled" in response.json()["error"]["details"]


def test_a_well_formed_boolean_filter_filters(owner, tenant):
    response = bearer_client(owner, tenant).get("/api/v1/alert-channels?enabled=true")
    assert response.status_code == 200


def test_a_well_formed_id_of_no_node_filters_to_an_empty_list(owner, tenant):
    response = bearer_client(owner, tenant).get("/api/v1/incidents?node=00000000-0000-0000-0000-00000000beef")
    assert response.status_code == 200
    assert response.json()["count"] == 0


@pytest.mark.parametrize(("name", "probe"), [("node", "not-a-uuid-beef"), ("state", "beef<script>")])
def test_filter_errors_never_echo_the_submitted_value(owner, tenant, name, probe):
    # Django's choice error would say "beef<script> is not one of the available choices".
    response = bearer_client(owner, tenant).get(f"/api/v1/incidents?{name}={probe}")
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == [name]
    assert "beef" not in response.content.decode()


@pytest.mark.parametrize("size", ["abc", "0", "-3", "1.5"])
def test_a_malformed_page_size_is_a_400(owner, tenant, size):
    response = bearer_client(owner, tenant).get(f"/api/v1/nodes?page_size={size}")
    assert response.status_code == 400
    assert "page_size" in response.json()["error"]["details"]


@pytest.mark.parametrize("query", ["page=", "page=1&page=2"])
def test_an_empty_or_repeated_page_is_a_400(owner, tenant, query):
    response = bearer_client(owner, tenant).get(f"/api/v1/nodes?{query}")
    assert response.status_code == 400
    assert "page" in response.json()["error"]["details"]


@pytest.mark.parametrize("path", ["/api/v1/nodes", "/api/v1/tenants", "/api/v1/alert-channels"])
def test_a_page_beyond_any_database_offset_is_past_the_end_not_a_conflict(owner, tenant, path):
    # Found by the fuzzer on SQLite, which cannot bind an offset above 2**63 - 1.
    response = bearer_client(owner, tenant).get(f"{path}?page=13767442798635044864&page_size=200")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_page_size_above_the_cap_is_capped_at_200(owner, tenant):
    response = bearer_client(owner, tenant).get("/api/v1/nodes?page_size=100000")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", 12345), ("name", True), ("name", None)],
)
def test_json_strings_must_be_strings(owner, tenant, field, value):
    response = bearer_client(owner, tenant).post("/api/v1/agents", {field: value, "prompt": "p"}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_json_booleans_must_be_booleans(owner, tenant):
    body = {"name": "a", "prompt": "p", "is_active": "yes"}
    response = bearer_client(owner, tenant).post("/api/v1/agents", body, format="json")
    assert response.status_code == 400
    assert "is_active" in response.json()["error"]["details"]


def test_form_and_query_input_keep_string_parsing(api_client, owner):
    # Query serializers receive strings; they must still parse numbers and booleans.
    response = api_client.post(
        "/api/v1/auth/login", {"email": owner.email, "password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 200


def test_an_integer_filter_refuses_a_fraction(owner, tenant):
    response = bearer_client(owner, tenant).get("/api/v1/analytics/api-calls?status_min=0.5")
    assert response.status_code == 400
    assert "status_min" in response.json()["error"]["details"]


def test_an_empty_query_parameter_is_a_400_not_absent(owner, tenant):
    response = bearer_client(owner, tenant).get("/api/v1/statistics/groups?to=")
    assert response.status_code == 400
    assert "to" in response.json()["error"]["details"]


def test_billing_account_types_are_checked_before_business_rules(owner, tenant):
    body = {"billing_account": {"tax_number_type": None}}
    response = bearer_client(owner, tenant).patch(f"/api/v1/tenants/{tenant.slug}", body, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "path, query",
    [
        ("/api/v1/usage", {"to": "0001-01-01"}),
        ("/api/v1/usage", {"from": "0001-01-01", "to": "0001-01-05"}),
        ("/api/v1/usage", {"to": "9999-12-31"}),
        ("/api/v1/statistics/groups", {"to": "0001-01-01T00:00:00Z"}),
        ("/api/v1/statistics/groups", {"from": "0001-01-01T00:00:00+05:00"}),
        ("/api/v1/statistics/groups", {"to": "9999-12-31T23:59:59-05:00"}),
    ],
)
def test_extreme_dates_are_a_400_not_an_overflow(owner, tenant, path, query):
    response = bearer_client(owner, tenant).get(path, query)
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_an_extreme_date_in_a_json_body_is_a_400(owner, tenant):
    response = bearer_client(owner, tenant).post(
        "/api/v1/api-keys", {"name": "k", "scopes": ["read"], "expires_at": "9999-12-31T23:59:59-12:00"}, format="json"
    )
    assert response.status_code == 400, response.content[:300]
    assert "expires_at" in response.json()["error"]["details"]
