"""ML_ENGINE_URL: answers and training delegated to a remote engine (a real local server), through
the outbound guard, with a timeout and popularity as the fallback."""
import time

import pytest

from tests.conftest import bearer_client
from tests.recommendations.engine_server import engine_server
from tests.recommendations.helpers import add_events, add_items, train_here, two_taste_groups
from tests.recommendations.test_training_worker import settled, wait_for

REMOTE_ANSWER = {"user_id": "u1", "strategy": "personalized", "model_version": 7, "items": [
    {"id": "s3", "title": "hidden here", "score": 0.9},
    {"id": "s1", "title": "engine's title", "score": 0.8},
    {"id": "ghost", "title": "not in the catalogue", "score": 0.7},
    {"id": "s2", "title": "", "score": 0.5},
]}


@pytest.fixture
def engine(settings):
    with engine_server() as server:
        settings.ML_ENGINE_URL = server.url + "/"
        settings.ML_ENGINE_TOKEN = "engine-secret"
        settings.ML_ENGINE_TIMEOUT_SECONDS = 0.5
        settings.OUTBOUND_ALLOW_PRIVATE = True  # the engine listens on loopback
        server.answers["/api/v1/recommendations"] = (200, REMOTE_ANSWER)
        yield server


@pytest.fixture
def client(owner, tenant):
    add_items(tenant, ["s1", "s2", "s3", "s4"])
    add_items(tenant, ["s3"], hidden=True)
    add_events(tenant, [("u1", "s4"), ("u2", "s4"), ("u2", "s1")])
    return bearer_client(owner, tenant)


def recommend(client, **body):
    response = client.post("/api/v1/recommendations", {"user_id": "u1", **body}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_engine_answers_through_the_guard_and_hidden_or_unknown_items_are_dropped(engine, client, tenant):
    answer = recommend(client, count=5)
    assert answer["strategy"] == "personalized" and answer["model_version"] == 7
    assert [(item["id"], item["title"]) for item in answer["items"]] == [("s1", "Title s1"), ("s2", "Title s2")]
    path, headers, body = engine.calls[0]
    assert path == "/api/v1/recommendations"
    assert body == {"user_id": "u1", "count": 5, "exclude_seen": True}
    assert headers["X-Tenant-Id"] == str(tenant.pk) and headers["Authorization"] == "Bearer engine-secret"


def test_a_category_is_sent_and_applied_to_the_engine_s_answer(engine, client, tenant):
    add_items(tenant, ["s2"], categories=["books"])
    answer = recommend(client, category="books")
    assert [item["id"] for item in answer["items"]] == ["s2"]
    assert engine.calls[0][2]["category"] == "books"


def test_a_slow_engine_times_out_and_popularity_answers(engine, client):
    engine.delay = 3.0
    started = time.monotonic()
    answer = recommend(client)
    assert time.monotonic() - started < 2.0  # the 0.5 s timeout, not the engine's 3 s
    assert answer["strategy"] == "popular" and answer["model_version"] is None
    assert [item["id"] for item in answer["items"]] == ["s1"]  # s4 was seen by u1; s1 is the next popular


@pytest.mark.parametrize("reply", [(500, {"error": "boom"}), (200, b"not json"), (200, {"items": "no list"}),
                                   (200, {"items": [{"id": "s1", "score": "high"}]}), (302, {})])
def test_an_engine_error_or_a_foreign_answer_falls_back_to_popularity(engine, client, reply):
    engine.answers["/api/v1/recommendations"] = reply
    answer = recommend(client, exclude_seen=False)
    assert answer["strategy"] == "popular"
    assert [item["id"] for item in answer["items"]] == ["s4", "s1"]


def test_the_guard_refuses_a_private_engine_unless_allowed_and_popularity_answers(engine, client, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    assert recommend(client)["strategy"] == "popular"
    assert engine.calls == []  # refused before connecting


def test_training_is_delegated_on_the_worker_with_the_catalogue_and_events(live_worker, engine, client, tenant):
    engine.answers["/api/v1/recommendation-models/train"] = (202, {"version": 3, "status": "training",
                                                                   "metrics": {"ndcg_at_10": 0.5, "bad": "x"}})
    response = client.post("/api/v1/recommendation-models/train")
    assert response.status_code == 202, response.content
    model = wait_for(lambda: settled(tenant, 1))
    assert model.status == "ready" and model.algorithm == "remote" and model.metrics == {"ndcg_at_10": 0.5}
    assert engine.paths() == ["/api/v1/items", "/api/v1/interactions", "/api/v1/recommendation-models/train"]
    items, events = engine.calls[0][2]["items"], engine.calls[1][2]["interactions"]
    assert sorted(item["id"] for item in items) == ["s1", "s2", "s3", "s4"]
    assert {item["id"]: item["hidden"] for item in items}["s3"] is True
    assert sorted((event["user_id"], event["item_id"]) for event in events) == [("u1", "s4"), ("u2", "s1"),
                                                                              ("u2", "s4")]
    assert all(event["id"] and event["type"] == "purchase" for event in events)


def test_a_failed_remote_training_keeps_the_local_model_serving(engine, client, tenant, settings):
    settings.ML_ENGINE_URL = ""
    two_taste_groups(tenant, users_per_group=20)
    local = train_here(tenant)
    assert local.status == "ready", local.error
    settings.ML_ENGINE_URL = engine.url
    engine.answers["/api/v1/recommendation-models/train"] = (503, {})
    failed = train_here(tenant)
    assert failed.status == "failed" and "HTTP 503" in failed.error and failed.algorithm == "remote"
    settings.ML_ENGINE_URL = ""
    answer = client.post("/api/v1/recommendations", {"user_id": "a-user1"}, format="json").json()
    assert answer["strategy"] == "personalized" and answer["model_version"] == local.version
