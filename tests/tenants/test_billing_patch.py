"""PATCH of a tenant's `billing_account` changes only the fields sent (public and staff API);
PUT on the staff API replaces the whole account."""
import pytest

from tenants.policy import Role
from tests.conftest import bearer_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
STORED = {
    "company_name": "Acme GmbH",
    "company_address": "Hauptstr. 1, Berlin",
    "tax_number_type": "vat",
    "tax_number": "DE123456789",
    "country": "DE",
}


@pytest.fixture
def billed(tenant):
    tenant.billing_account = dict(STORED)
    tenant.save(update_fields=["billing_account"])
    return tenant


def test_a_patch_of_one_billing_field_keeps_the_others(billed, make_member):
    client = bearer_client(make_member(billed, Role.ADMIN))
    response = client.patch(f"/api/v1/tenants/{billed.slug}", {"billing_account": {"company_name": "Acme AG"}},
                            format="json")
    assert response.status_code == 200, response.content
    assert response.json()["billing_account"] == {**STORED, "company_name": "Acme AG"}
    billed.refresh_from_db()
    assert billed.billing_account == {**STORED, "company_name": "Acme AG"}


def test_a_partial_billing_patch_is_validated_against_the_stored_fields(billed, make_member):
    client = bearer_client(make_member(billed, Role.ADMIN))
    # The stored country is DE: a VAT number with another country's prefix is refused.
    refused = client.patch(f"/api/v1/tenants/{billed.slug}", {"billing_account": {"tax_number": "FR12345678901"}},
                           format="json")
    assert refused.status_code == 400
    assert "tax_number" in refused.json()["error"]["details"]["billing_account"]
    billed.refresh_from_db()
    assert billed.billing_account == STORED
    # An explicit empty string still clears one field.
    cleared = client.patch(f"/api/v1/tenants/{billed.slug}", {"billing_account": {"company_address": ""}},
                           format="json")
    assert cleared.json()["billing_account"] == {**STORED, "company_address": ""}


def test_the_staff_api_patch_merges_and_put_replaces(billed):
    staff = bearer_client(UserFactory(is_staff=True, is_superuser=True))
    url = f"/api/admin/tenants/{billed.pk}"
    patched = staff.patch(url, {"billing_account": {"company_name": "Acme AG"}}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["billing_account"] == {**STORED, "company_name": "Acme AG"}
    replaced = staff.put(url, {"name": billed.name, "billing_account": {"company_name": "Solo Ltd"}}, format="json")
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["billing_account"] == {
        "company_name": "Solo Ltd", "company_address": "", "tax_number_type": "", "tax_number": "", "country": ""
    }
