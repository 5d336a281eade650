"""Interaction ingest: per-event rejections, idempotency ids, bounds."""
import pytest
from django.db import transaction

from recommendations import services
from recommendations.models import Interaction
from tests.conftest import bearer_client
from tests.recommendations.helpers import add_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(owner, tenant):
    add_items(tenant, ["i1", "i2"])
    return bearer_client(owner, tenant)


def send(client, events):
    return client.post("/api/v1/interactions", {"interactions": events}, format="json")


def test_valid_events_are_accepted_and_bad_ones_rejected_by_index(client, tenant):
    response = send(client, [
        {"user_id": "u1", "item_id": "i1", "type": "view"},
        {"user_id": "u1", "item_id": "missing", "type": "view"},
        {"user_id": "u1", "item_id": "i2", "type": "teleport"},
        {"user_id": "u2", "item_id": "i2", "type": "rating", "value": 4.5, "timestamp": "2026-03-01T10:00:00Z"},
        {"user_id": "", "item_id": "i2", "type": "view"},
        {"user_id": "u3", "item_id": "i2", "type": "rating", "value": "5"},
        {"user_id": "u3", "item_id": "i2", "type": "view", "timestamp": "yesterday"},
        {"user_id": "u3", "item_id": "i2", "type": "view", "extra": 1},
        [],
    ])
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    rejected = {entry["index"]: entry["errors"] for entry in body["rejected"]}
    assert list(rejected) == [1, 2, 4, 5, 6, 7, 8]
    assert rejected[1] == {"item_id": ["No item with this id."]}
    assert "type" in rejected[2] and "user_id" in rejected[4] and "value" in rejected[5]
    assert "timestamp" in rejected[6] and "extra" in rejected[7]
    rating = Interaction.objects.get(tenant=tenant, user_id="u2")
    assert (rating.type, rating.value, rating.timestamp.isoformat()) == ("rating", 4.5, "2026-03-01T10:00:00+00:00")


def test_an_idempotency_id_stores_an_event_once(client, tenant):
    event = {"user_id": "u1", "item_id": "i1", "type": "purchase", "id": "evt-1"}
    first = send(client, [event, {**event}, {**event, "id": "evt-2"}]).json()
    assert (first["accepted"], first["duplicates"]) == (2, 1)
    again = send(client, [event, {**event, "id": "evt-3"}]).json()
    assert (again["accepted"], again["duplicates"]) == (1, 1)
    assert Interaction.objects.filter(tenant=tenant).count() == 3


def test_idempotency_ids_are_per_tenant(client, other_tenant, outsider):
    add_items(other_tenant, ["i1"])
    event = {"user_id": "u1", "item_id": "i1", "type": "view", "id": "same"}
    assert send(client, [event]).json()["accepted"] == 1
    assert send(bearer_client(outsider, other_tenant), [event]).json()["accepted"] == 1


def test_another_tenants_items_are_unknown_here(client, other_tenant, outsider):
    add_items(other_tenant, ["theirs"])
    body = send(client, [{"user_id": "u", "item_id": "theirs", "type": "view"}]).json()
    assert body["accepted"] == 0 and body["rejected"][0]["errors"] == {"item_id": ["No item with this id."]}


def test_a_batch_is_bounded(client):
    assert send(client, []).status_code == 400
    too_many = [{"user_id": "u", "item_id": "i1", "type": "view"}] * 10_001
    assert send(client, too_many).status_code in (400, 413)
    assert client.post("/api/v1/interactions", {"interactions": {}}, format="json").status_code == 400


def test_an_event_type_that_is_an_object_or_a_list_is_rejected_not_a_500(client, tenant):
    response = send(client, [
        {"user_id": "u1", "item_id": "i1", "type": {}},
        {"user_id": "u1", "item_id": "i1", "type": ["view"]},
        {"user_id": "u1", "item_id": "i1", "type": "view"},
    ])
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["accepted"] == 1
    assert [entry["index"] for entry in body["rejected"]] == [0, 1]
    assert all("type" in entry["errors"] for entry in body["rejected"])


def test_ids_that_postgresql_cannot_store_are_rejected_not_a_500(client, tenant):
    body = ('{"interactions": [{"user_id": "u1", "item_id": "i1", "type": "view", "id": "a\\u0000b"},'
            ' {"user_id": "u\\ud969", "item_id": "i1", "type": "view"},'
            ' {"user_id": "u1", "item_id": "i1", "type": "view", "id": "fine"}]}')
    response = client.post("/api/v1/interactions", body, content_type="application/json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["accepted"] == 1
    assert [(entry["index"], sorted(entry["errors"])) for entry in body["rejected"]] == [(0, ["id"]), (1, ["user_id"])]


def test_two_uploads_in_one_transaction_store_each_event_once(tenant):
    # The request path commits per call; a caller of the service inside one transaction (the
    # staging table lives per transaction) must not see the first upload's rows again.
    events = [{"user_id": "u1", "item_id": "i1", "type": "view"}, {"user_id": "u1", "item_id": "nope", "type": "view"},
              {"user_id": "u2", "item_id": "i2", "type": "click", "id": "e1"}]
    add_items(tenant, ["i1", "i2"])
    with transaction.atomic():
        first = services.interactions_ingest(tenant=tenant, events=events)
        second = services.interactions_ingest(tenant=tenant, events=events)
    assert (first.accepted, first.duplicates, [r["index"] for r in first.rejected]) == (2, 0, [1])
    assert (second.accepted, second.duplicates, [r["index"] for r in second.rejected]) == (1, 1, [1])
    assert Interaction.objects.filter(tenant=tenant).count() == 3
