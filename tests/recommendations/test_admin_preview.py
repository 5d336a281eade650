"""The admin's preview: an operator picks a tenant and a user and sees the user's history beside
the answer the API would give (the same serving call), escaped; bad input is the form again."""
import re

import pytest

from recommendations import services
from tests.conftest import bearer_client
from tests.console.conftest import admin_site_client, superuser  # noqa: F401
from tests.console.factories import StaffFactory
from tests.recommendations.helpers import add_events, train_here, two_taste_groups

pytestmark = pytest.mark.django_db
URL = "/admin/recommendations/recommendationmodel/preview/"


def rows(page, table_id):
    """The item ids (second column) of one of the page's two tables."""
    section = page[page.index(f'id="{table_id}"'):]
    section = section[:section.index("</table>")] if "</table>" in section else ""
    return re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td>", section)


def test_the_preview_shows_the_history_beside_the_apis_answer(admin_site_client, owner, tenant):  # noqa: F811
    two_taste_groups(tenant)
    model = train_here(tenant)
    response = admin_site_client.get(URL, {"tenant": tenant.slug, "user_id": "a-user1", "count": 5,
                                           "exclude_seen": "on"})
    assert response.status_code == 200
    page = response.content.decode()
    api = bearer_client(owner, tenant).post("/api/v1/recommendations", {"user_id": "a-user1", "count": 5},
                                            format="json").json()
    assert f"Would be recommended: personalized, model v{model.version}" in page
    assert rows(page, "preview-answer") == [item["id"] for item in api["items"]]
    history = rows(page, "preview-history")
    assert len(history) == 6 and all(item.startswith("a") for item in history)
    assert not set(history) & set(rows(page, "preview-answer"))  # seen items excluded, as asked
    assert "6 interactions" in page


def test_a_user_nobody_knows_is_a_cold_start_and_another_tenants_history_stays_there(
        admin_site_client, tenant, other_tenant):  # noqa: F811
    two_taste_groups(tenant)
    train_here(tenant)
    page = admin_site_client.get(URL, {"tenant": other_tenant.slug, "user_id": "a-user1", "count": 5}).content.decode()
    assert "No interactions: a cold-start user." in page
    assert "Would be recommended: popular, model none (live popularity)" in page


def test_titles_are_escaped(admin_site_client, tenant):  # noqa: F811
    services.item_upsert_many(tenant=tenant, items=[{"external_id": "x", "title": "<script>alert(1)</script>"}])
    add_events(tenant, [("u1", "x")])
    page = admin_site_client.get(URL, {"tenant": tenant.slug, "user_id": "u1", "exclude_seen": ""}).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert rows(page, "preview-answer") == ["x"]  # exclude_seen off: the one item comes back


@pytest.mark.parametrize("query", [
    {"tenant": "no-such-tenant", "user_id": "u1"},
    {"tenant": "{tenant}", "user_id": ""},
    {"tenant": "{tenant}", "user_id": "u1", "count": "0"},
    {"tenant": "{tenant}", "user_id": "u1", "count": "x"},
    {"tenant": "{tenant}", "user_id": "u" * 200},
])
def test_bad_input_is_the_form_with_its_errors(admin_site_client, tenant, query):  # noqa: F811
    query = {name: value.replace("{tenant}", tenant.slug) for name, value in query.items()}
    response = admin_site_client.get(URL, query)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="errorlist' in page and "Would be recommended" not in page


def test_the_form_is_linked_from_the_models_list_and_needs_the_view_permission(admin_site_client, client):  # noqa: F811
    listing = admin_site_client.get("/admin/recommendations/recommendationmodel/").content.decode()
    assert f'href="{URL}"' in listing
    assert admin_site_client.get(URL).status_code == 200
    client.force_login(StaffFactory())
    assert client.get(URL).status_code == 403
