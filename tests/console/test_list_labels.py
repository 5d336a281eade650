"""Lists that read at a glance: names instead of ids, labels spelled right, times with their
zone, scopes as checkboxes."""
import re
from types import SimpleNamespace

import pytest

from apikeys.models import ApiKey, UsageRollup
from core.audit import audit_record
from tests.apikeys.factories import make_key
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def test_audit_rows_name_the_api_key_and_the_tenant(admin_site_client):
    tenant = TenantFactory(name="Acme Corp")
    key, _ = make_key(tenant, name="ci-deploy")
    audit_record(action="node.create", target=key, actor=SimpleNamespace(key_id=key.pk), tenant=tenant)
    html = admin_site_client.get("/admin/core/auditevent/").content.decode()
    assert f'<span title="{key.pk}">ci-deploy</span>' in html
    assert f'<span title="{tenant.pk}">Acme Corp</span>' in html


def test_usage_rows_name_the_api_key(admin_site_client):
    tenant = TenantFactory()
    key, _ = make_key(tenant, name="nightly-export")
    UsageRollup.objects.create(tenant=tenant, day="2026-12-01", route="/api/v1/nodes", api_key_id=str(key.pk),
                               requests=3)
    UsageRollup.objects.create(tenant=tenant, day="2026-12-01", route="/api/v1/runs", api_key_id="gone-0000-not-a-key",
                               requests=1)
    html = admin_site_client.get("/admin/apikeys/usagerollup/").content.decode()
    assert "nightly-export" in html
    # An id that names no key stays, shortened, the whole on hover.
    assert 'title="gone-0000-not-a-key">gone-000…' in html


def test_the_index_spells_the_labels_right(admin_site_client):
    html = admin_site_client.get("/admin/").content.decode()
    for label in ("API keys and usage", "API keys", "API calls", "Alert deliveries"):
        assert label in html
    for wrong in ("Apikeys", "Api keys", "Api calls", "Alert deliverys"):
        assert wrong not in html


def test_times_carry_their_zone(admin_site_client):
    key, _ = make_key(TenantFactory())
    html = admin_site_client.get(f"/admin/apikeys/apikey/{key.pk}/change/").content.decode()
    created = re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", html)
    assert created is not None


def test_scopes_are_checkboxes_saved_as_the_json_list(admin_site_client):
    key, _ = make_key(TenantFactory(), name="ci", scopes=["read"])
    url = f"/admin/apikeys/apikey/{key.pk}/change/"
    html = admin_site_client.get(url).content.decode()
    assert html.count('type="checkbox" name="scopes"') == 4
    response = admin_site_client.post(url, {"name": "ci", "scopes": ["write", "read", "execute"], "rate_limit": "",
                                            "expires_at_0": "", "expires_at_1": ""})
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=key.pk).scopes == ["execute", "read", "write"]
    response = admin_site_client.post(url, {"name": "ci", "rate_limit": "", "expires_at_0": "", "expires_at_1": ""})
    assert response.status_code == 200  # no scope: the form says so, nothing changes
    assert ApiKey.objects.get(pk=key.pk).scopes == ["execute", "read", "write"]
