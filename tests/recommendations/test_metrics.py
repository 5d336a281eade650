"""Recommendation requests by strategy and engine, and their latency, on /metrics."""
import re

import pytest
from django.test import Client

from recommendations import metrics
from tests.conftest import bearer_client
from tests.recommendations.engine_server import engine_server
from tests.recommendations.helpers import add_events, add_items, train_here, two_taste_groups


def scrape() -> dict[str, float]:
    text = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").content.decode()
    return {name: float(value) for name, value in
            re.findall(r"^(groundstation_recommendation_\S+) (\S+)$", text, flags=re.MULTILINE)}


def delta(before, after, name):
    return after.get(name, 0.0) - before.get(name, 0.0)


REQUESTS = 'groundstation_recommendation_requests_total{{engine="{}",strategy="{}"}}'
COUNT = "groundstation_recommendation_latency_seconds_count"


@pytest.fixture
def client(owner, tenant, settings):
    settings.METRICS_TOKEN = "scrape-me"
    return bearer_client(owner, tenant)


def test_each_answer_is_counted_by_strategy_with_its_latency(client, tenant):
    two_taste_groups(tenant, users_per_group=20)
    train_here(tenant)
    before = scrape()
    for user in ("a-user1", "b-user2", "nobody"):
        assert client.post("/api/v1/recommendations", {"user_id": user}, format="json").status_code == 200
    after = scrape()
    assert delta(before, after, REQUESTS.format("local", "personalized")) == 2
    assert delta(before, after, REQUESTS.format("local", "popular")) == 1
    assert delta(before, after, COUNT) == 3
    assert delta(before, after, 'groundstation_recommendation_latency_seconds_bucket{le="+Inf"}') == 3
    assert 0 < delta(before, after, "groundstation_recommendation_latency_seconds_sum") < 30
    assert tenant.slug not in str(after)


def test_a_fallback_from_the_remote_engine_is_counted_as_such(client, tenant, settings):
    add_items(tenant, ["x1"])
    add_events(tenant, [("u1", "x1")])
    with engine_server() as server:
        server.answers["/api/v1/recommendations"] = (500, {})
        settings.ML_ENGINE_URL, settings.OUTBOUND_ALLOW_PRIVATE = server.url, True
        before = scrape()
        client.post("/api/v1/recommendations", {"user_id": "u1"}, format="json")
        after = scrape()
    assert delta(before, after, REQUESTS.format("fallback", "popular")) == 1


def buckets() -> dict[str, float]:
    families = {family.name: family for family in metrics.RecommendationsCollector().collect()}
    return {sample.labels["le"]: sample.value for sample in families["groundstation_recommendation_latency_seconds"]
            .samples if sample.name.endswith("_bucket")}


def test_an_answer_falls_into_the_first_bucket_that_holds_its_latency():
    before = buckets()
    metrics.observe("popular", "local", 0.012)  # 12 ms
    after = buckets()
    assert after["0.01"] - before["0.01"] == 0
    assert after["0.015"] - before["0.015"] == 1 and after["+Inf"] - before["+Inf"] == 1
