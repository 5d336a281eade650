"""The operators' console: key actions call the services; secrets are never rendered."""
import pytest
from django.test import Client

from apikeys import services
from apikeys.models import ApiKey
from tests.apikeys.conftest import key_client
from tests.apikeys.factories import make_key
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.apikeys.urls")]


@pytest.fixture
def console(db):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_key_pages_never_show_a_secret_or_digest(console, tenant):
    key, secret = make_key(tenant)
    for url in ("/admin/apikeys/apikey/", f"/admin/apikeys/apikey/{key.pk}/change/"):
        page = console.get(url).content.decode()
        assert key.display_prefix in page
        assert secret not in page and key.digest not in page


def test_revoke_and_rotate_actions_kill_the_old_secret(console, tenant):
    revoked, revoked_secret = make_key(tenant, name="a")
    rotated, rotated_secret = make_key(tenant, name="b")
    for secret in (revoked_secret, rotated_secret):
        assert key_client(secret).get("/api/v1/probe").status_code == 200
    console.post("/admin/apikeys/apikey/", {"action": "revoke_keys", "_selected_action": [revoked.pk], "post": "yes"})
    console.post("/admin/apikeys/apikey/", {"action": "rotate_keys", "_selected_action": [rotated.pk], "post": "yes"})
    assert key_client(revoked_secret).get("/api/v1/probe").status_code == 401
    assert key_client(rotated_secret).get("/api/v1/probe").status_code == 401
    assert ApiKey.objects.get(pk=revoked.pk).revoked_at is not None


def test_usage_page_charts_requests_per_day(console, tenant):
    _, secret = make_key(tenant)
    for _ in range(3):
        key_client(secret).get("/api/v1/probe")
    services.usage_flush()
    page = console.get(f"/admin/apikeys/usagerollup/?tenant__id__exact={tenant.pk}")
    assert page.status_code == 200
    assert "Requests per day" in page.content.decode() and "3 req" in page.content.decode()


def test_a_revoked_key_is_read_only_in_the_admin(console, tenant):
    key, _secret = make_key(tenant, name="gone")
    services.api_key_revoke(key=key)
    url = f"/admin/apikeys/apikey/{key.pk}/change/"
    page = console.get(url).content.decode()
    assert 'name="name"' not in page  # no editable field
    response = console.post(url, {"name": "back", "scopes": '["read", "write"]', "rate_limit": ""})
    assert response.status_code in (200, 302)
    key.refresh_from_db()
    assert key.name == "gone"


def key_form(key, rate_limit: str) -> dict:
    return {"name": key.name, "scopes": ["read"], "rate_limit": rate_limit, "expires_at_0": "", "expires_at_1": ""}


def test_the_key_form_accepts_windows_and_buckets_and_refuses_other_rates(console, tenant):
    key, _secret = make_key(tenant, name="ci")
    url = f"/admin/apikeys/apikey/{key.pk}/change/"
    for bad in ("10/s burst", "10/s burst 0", "10/x", "ten/s"):
        response = console.post(url, key_form(key, bad))
        assert response.status_code == 200 and "is not a rate like" in response.content.decode(), bad
    assert ApiKey.objects.get(pk=key.pk).rate_limit == ""
    assert console.post(url, key_form(key, "10/s  burst 20")).status_code == 302
    assert ApiKey.objects.get(pk=key.pk).rate_limit == "10/s burst 20"



def test_the_plan_form_accepts_windows_and_buckets_and_refuses_other_rates(console):
    from tenants.models import Plan

    prices = {"price_cents": "0", "currency": "eur", "interval": "month", "included_requests": "0",
              "overage_cents_per_1000": "0", "stripe_price_id": "", "storage_bytes": ""}
    for bad in ('["10/s burst"]', '"100/s"', '["100/m", "200/m"]'):
        response = console.post("/admin/tenants/plan/add/", {"name": "Team", "slug": "team", "rates": bad, **prices})
        assert response.status_code == 200 and "errorlist" in response.content.decode(), bad
    assert not Plan.objects.filter(slug="team").exists()
    response = console.post("/admin/tenants/plan/add/",
                            {"name": "Team", "slug": "team", "rates": '["100/s  burst 200", "1000/m"]', **prices})
    assert response.status_code == 302, response.content[:800]
    assert Plan.objects.get(slug="team").rates == ["100/s burst 200", "1000/m"]
