"""Training on a real Celery worker: on demand, one at a time per tenant, and on the schedule."""
import time

import pytest
from django.conf import settings

from recommendations import tasks, training
from recommendations.models import RecommendationModel
from tests.conftest import bearer_client
from tests.recommendations.helpers import add_events, two_taste_groups


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def settled(tenant, version):
    model = RecommendationModel.objects.get(tenant=tenant, version=version)
    return model if model.status != RecommendationModel.Status.TRAINING else None


@pytest.fixture
def client(owner, tenant):
    return bearer_client(owner, tenant)


def test_a_requested_training_runs_on_the_worker_and_then_serves(live_worker, client, tenant):
    two_taste_groups(tenant)
    response = client.post("/api/v1/recommendation-models/train")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "training" and response.json()["version"] == 1
    # While it trains nothing is ready: answers are the live popular ones, and a second
    # training of the same tenant is refused.
    second = client.post("/api/v1/recommendation-models/train")
    model = wait_for(lambda: settled(tenant, 1))
    assert second.status_code == 409 or model.status == "ready"
    if second.status_code == 409:
        assert second.json()["error"]["code"] == "CONFLICT"
    assert model.status == "ready", model.error
    assert model.algorithm == "ease" and model.duration_ms is not None and model.size_bytes > 0
    listed = client.get("/api/v1/recommendation-models").json()["results"]
    assert listed[0]["metrics"]["ndcg_at_10"] > listed[0]["metrics"]["popularity_ndcg_at_10"]
    answer = client.post("/api/v1/recommendations", {"user_id": "b-user3", "count": 3}, format="json").json()
    assert answer["strategy"] == "personalized" and answer["model_version"] == 1


def test_two_trainings_of_one_tenant_never_run_at_once(live_worker, client, tenant):
    two_taste_groups(tenant, users_per_group=150)
    statuses = [client.post("/api/v1/recommendation-models/train").status_code for _ in range(3)]
    assert statuses[0] == 202
    wait_for(lambda: settled(tenant, 1))
    # Every request while version 1 trained was refused; none made a second concurrent row.
    assert all(code in (202, 409) for code in statuses)
    assert RecommendationModel.objects.filter(tenant=tenant).count() == statuses.count(202)


def test_the_schedule_trains_tenants_with_new_interactions(live_worker, tenant):
    assert "recommendations-train-due" in settings.CELERY_BEAT_SCHEDULE
    two_taste_groups(tenant)
    tasks.train_due.delay()  # what beat sends; the worker requests and then runs the training
    assert wait_for(lambda: RecommendationModel.objects.filter(tenant=tenant).exists())
    wait_for(lambda: settled(tenant, 1))
    assert training.tenants_due_for_training() == []  # nothing new since
    add_events(tenant, [("a-user0", "a9")], kind="click")
    assert training.tenants_due_for_training() == [tenant]
    tasks.train_due.delay()
    assert wait_for(lambda: RecommendationModel.objects.filter(tenant=tenant, version=2).exists())
    assert wait_for(lambda: settled(tenant, 2)).status == "ready"
