"""Answers: personalised after training, popular on cold start, never hidden or deleted items,
exclude-seen, category filter, similar items; a model worse than popularity is not promoted."""
import pytest

from recommendations.models import Interaction, Item, RecommendationModel
from tests.conftest import bearer_client
from tests.recommendations.helpers import add_events, add_items, train_here, two_taste_groups

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(owner, tenant):
    return bearer_client(owner, tenant)


def recommend(client, **body):
    response = client.post("/api/v1/recommendations", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def ids(answer):
    return [item["id"] for item in answer["items"]]


def test_before_any_model_a_user_gets_the_recently_popular_items(client, tenant):
    add_items(tenant, ["hot", "warm", "cold"])
    add_events(tenant, [("u1", "hot"), ("u2", "hot"), ("u3", "hot"), ("u1", "warm"), ("u2", "warm")])
    answer = recommend(client, user_id="newcomer", count=2)
    assert answer == {"user_id": "newcomer", "strategy": "popular", "model_version": None,
                      "items": [{"id": "hot", "title": "Title hot", "score": 1.0},
                                {"id": "warm", "title": "Title warm", "score": pytest.approx(0.666667)}]}


def test_a_trained_model_personalises_and_leaves_cold_users_popular(client, tenant):
    two_taste_groups(tenant)
    model = train_here(tenant)
    assert model.status == "ready", model.error
    assert model.metrics["ndcg_at_10"] > model.metrics["popularity_ndcg_at_10"]
    answer = recommend(client, user_id="a-user0", count=4)
    assert answer["strategy"] == "personalized" and answer["model_version"] == model.version
    assert all(item_id.startswith("a") for item_id in ids(answer))
    assert len(answer["items"]) == 4  # six of ten "a" items seen: four left
    cold = recommend(client, user_id="stranger", count=5)
    assert cold["strategy"] == "popular" and cold["model_version"] == model.version and len(cold["items"]) == 5


def test_seen_items_are_excluded_unless_asked(client, tenant):
    two_taste_groups(tenant)
    train_here(tenant)
    seen = set(Item.objects.filter(interactions__user_id="a-user1").values_list("external_id", flat=True))
    assert not seen & set(ids(recommend(client, user_id="a-user1", count=10)))
    assert seen <= set(ids(recommend(client, user_id="a-user1", count=10, exclude_seen=False)))


def test_new_interactions_count_without_retraining(client, tenant):
    two_taste_groups(tenant)
    train_here(tenant)
    add_events(tenant, [("fresh", "b1"), ("fresh", "b2")])
    answer = recommend(client, user_id="fresh", count=5)
    assert answer["strategy"] == "personalized"
    assert all(item_id.startswith("b") for item_id in ids(answer)) and not {"b1", "b2"} & set(ids(answer))


def test_hidden_and_deleted_items_leave_answers_at_once(client, tenant):
    two_taste_groups(tenant)
    train_here(tenant)
    before = ids(recommend(client, user_id="a-user0", count=4, exclude_seen=False))
    hidden, deleted = before[0], before[1]
    assert client.patch(f"/api/v1/items/{hidden}", {"hidden": True}, format="json").status_code == 200
    assert client.delete(f"/api/v1/items/{deleted}").status_code == 204
    for user in ("a-user0", "stranger"):
        answer = ids(recommend(client, user_id=user, count=20, exclude_seen=False))
        assert hidden not in answer and deleted not in answer
    assert hidden not in ids(client.get("/api/v1/items/a9/similar?count=20").json())


def test_a_category_filter_keeps_only_that_category(client, tenant):
    two_taste_groups(tenant)
    train_here(tenant)
    answer = recommend(client, user_id="a-user0", count=5, category="beta")
    assert answer["items"] and all(item_id.startswith("b") for item_id in ids(answer))
    assert recommend(client, user_id="a-user0", category="nothing")["items"] == []


def test_similar_items_are_the_collaborative_neighbours(client, tenant):
    two_taste_groups(tenant)
    model = train_here(tenant)
    answer = client.get("/api/v1/items/a3/similar?count=5").json()
    assert answer["strategy"] == "collaborative" and answer["model_version"] == model.version
    assert len(answer["items"]) == 5 and all(i.startswith("a") and i != "a3" for i in ids(answer))
    add_items(tenant, ["lonely"])
    assert client.get("/api/v1/items/lonely/similar").json()["items"] == []
    assert client.get("/api/v1/items/a3/similar?count=0").status_code == 400
    assert client.get("/api/v1/items/a3/similar?count=x").status_code == 400


def test_a_model_that_does_not_beat_popularity_is_not_promoted(client, tenant):
    two_taste_groups(tenant)
    good = train_here(tenant)
    # Now the history is a crowd buying the same five items: popularity is already perfect, so
    # the collaborative model is no better.
    Interaction.objects.filter(tenant=tenant).delete()
    add_items(tenant, [f"p{n}" for n in range(5)])
    add_events(tenant, [(f"crowd{user}", f"p{n}") for user in range(100) for n in range(5)])
    worse = train_here(tenant)
    assert worse.status == "failed" and "popularity" in worse.error
    assert worse.metrics["ndcg_at_10"] <= worse.metrics["popularity_ndcg_at_10"]
    assert recommend(client, user_id="a-user0")["model_version"] == good.version


def test_too_little_data_fails_the_training_with_a_reason(tenant):
    add_items(tenant, ["x"])
    add_events(tenant, [("u1", "x")])
    model = train_here(tenant)
    assert model.status == RecommendationModel.Status.FAILED and "two items" in model.error


def test_bad_requests_are_400_in_the_envelope(client):
    for body in ({}, {"user_id": "u", "count": 0}, {"user_id": "u", "count": 101}, {"user_id": "u", "count": "5"},
                 {"user_id": 5}, {"user_id": "u", "exclude_seen": "yes"}, {"user_id": "u", "colour": 1},
                 {"user_id": "x" * 129}):
        response = client.post("/api/v1/recommendations", body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
