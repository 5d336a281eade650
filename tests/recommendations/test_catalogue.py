"""The catalogue API: bulk upsert with per-index rejections, reads, category filter, changes."""
import pytest

from recommendations.models import Item
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(owner, tenant):
    return bearer_client(owner, tenant)


def upload(client, items):
    return client.post("/api/v1/items", {"items": items}, format="json")


def test_it_creates_then_updates_items_by_the_tenants_own_id(client, tenant):
    response = upload(client, [{"id": "sku-1", "title": "Boots", "categories": ["shoes"]},
                               {"id": "sku-2", "title": "Hat"}])
    assert response.status_code == 200, response.content
    assert response.json() == {"created": 2, "updated": 0, "rejected": []}
    response = upload(client, [{"id": "sku-1", "title": "Winter boots", "properties": {"price": 90}}])
    assert response.json() == {"created": 0, "updated": 1, "rejected": []}
    item = Item.objects.get(tenant=tenant, external_id="sku-1")
    assert (item.title, item.categories, item.properties) == ("Winter boots", ["shoes"], {"price": 90})


def test_one_bad_item_never_rejects_the_others(client, tenant):
    response = upload(client, [
        {"id": "ok-1", "title": "Fine"},
        {"id": "x" * 129, "title": "Too long an id"},
        {"title": "No id"},
        {"id": "ok-2", "title": "Fine too", "colour": "red"},
        {"id": "ok-1", "title": "Again"},
        "not an object",
        {"id": "a/b", "title": "Slash"},
        {"id": "ok-3", "title": 5},
    ])
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["updated"]) == (1, 0)
    rejected = {entry["index"]: entry["errors"] for entry in body["rejected"]}
    assert set(rejected) == {1, 2, 3, 4, 5, 6, 7}
    assert "id" in rejected[1] and "id" in rejected[2] and "colour" in rejected[3] and "id" in rejected[4]
    assert "title" in rejected[7]
    assert list(Item.objects.filter(tenant=tenant).values_list("external_id", flat=True)) == ["ok-1"]


def test_an_upload_is_bounded_and_typed(client):
    assert upload(client, []).status_code == 400
    assert upload(client, [{"id": str(n), "title": "t"} for n in range(1001)]).status_code == 400
    response = client.post("/api/v1/items", {"items": "nope"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_the_catalogue_lists_filters_by_category_and_changes_items(client):
    upload(client, [{"id": "a", "title": "A", "categories": ["shoes", "sale"]},
                    {"id": "b", "title": "B", "categories": ["hats"]},
                    {"id": "c", "title": "C", "categories": ["Shoes"]}])
    listed = client.get("/api/v1/items?category=shoes").json()
    assert [item["id"] for item in listed["results"]] == ["a"]
    assert client.get("/api/v1/items/b").json()["categories"] == ["hats"]
    changed = client.patch("/api/v1/items/b", {"categories": ["shoes"], "hidden": True}, format="json")
    assert changed.status_code == 200 and changed.json()["hidden"] is True
    assert [item["id"] for item in client.get("/api/v1/items?category=shoes").json()["results"]] == ["a", "b"]
    assert client.delete("/api/v1/items/b").status_code == 204
    assert client.get("/api/v1/items/b").status_code == 404
    assert client.patch("/api/v1/items/a", {"title": ""}, format="json").status_code == 400


def test_another_tenants_items_are_not_found(client, outsider, other_tenant):
    upload(client, [{"id": "mine", "title": "Mine"}])
    foreign = bearer_client(outsider, other_tenant)
    assert foreign.get("/api/v1/items/mine").status_code == 404
    assert foreign.get("/api/v1/items").json()["results"] == []
    assert foreign.get("/api/v1/items/mine/similar").status_code == 404
