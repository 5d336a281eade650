"""Answers from a warm process: one statement per answer, and a catalogue change made by
another process (a hide, a delete, new categories, a new model) counts at that process's next
answer, because the catalogue version is read with the user's history."""
import os
import subprocess
import sys
from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apikeys.services import api_key_create
from recommendations import services
from recommendations.models import CatalogueVersion, Item
from tests.monitoring.processes import ROOT
from tests.recommendations.helpers import add_events, train_here, two_taste_groups


def key_client(tenant) -> APIClient:
    _key, secret = api_key_create(tenant=tenant, name="serving", scopes=["read"])
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def recommend(client, **body) -> dict:
    response = client.post("/api/v1/recommendations", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def ids(answer) -> list[str]:
    return [item["id"] for item in answer["items"]]


@pytest.mark.django_db
def test_a_warm_answer_is_one_statement(tenant):
    two_taste_groups(tenant)
    model = train_here(tenant)
    client = key_client(tenant)
    recommend(client, user_id="a-user0")  # loads the vectors, the catalogue and the key's snapshot
    for body in ({"user_id": "a-user0"}, {"user_id": "stranger"}, {"user_id": "a-user1", "category": "beta"}):
        with CaptureQueriesContext(connection) as queries:
            answer = recommend(client, **body)
        assert answer["model_version"] == model.version and answer["items"], body
        assert len(queries) == 1, [query["sql"] for query in queries]


@pytest.mark.django_db
def test_catalogue_writes_move_the_version_and_answers_follow(tenant):
    two_taste_groups(tenant)
    train_here(tenant)
    client = key_client(tenant)
    before = CatalogueVersion.objects.get(tenant=tenant).version
    top = ids(recommend(client, user_id="a-user0", count=3, exclude_seen=False))
    services.item_update(item=Item.objects.get(tenant=tenant, external_id=top[0]), categories=["beta"])
    assert CatalogueVersion.objects.get(tenant=tenant).version == before + 1
    assert top[0] in ids(recommend(client, user_id="a-user0", count=20, category="beta", exclude_seen=False))
    services.item_update(item=Item.objects.get(tenant=tenant, external_id=top[1]), title="Renamed")
    titles = {item["id"]: item["title"] for item in recommend(client, user_id="a-user0", count=20,
                                                              exclude_seen=False)["items"]}
    assert titles[top[1]] == "Renamed"


def _this_database_url() -> str:
    """The test database, as another process's DATABASE_URL."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    login = quote(db.get("USER") or "") + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{login}{'@' if login else ''}{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _other_process(env: dict, code: str) -> None:
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


@pytest.mark.django_db(transaction=True)
def test_a_hide_and_a_delete_in_another_process_count_at_this_ones_next_answer(tenant):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("another process cannot open an in-memory SQLite database")
    two_taste_groups(tenant)
    first = train_here(tenant)
    client = key_client(tenant)
    before = ids(recommend(client, user_id="a-user0", count=4, exclude_seen=False))
    hidden, deleted = before[0], before[1]
    env = {**os.environ, "DATABASE_URL": _this_database_url(), "RECOMMENDER_RETRAIN_AFTER_INTERACTIONS": "0"}
    _other_process(env, (
        "from recommendations import services; from recommendations.models import Item; "
        f"items = Item.objects.filter(tenant_id='{tenant.pk}'); "
        f"services.item_update(item=items.get(external_id='{hidden}'), hidden=True); "
        f"services.item_delete(item=items.get(external_id='{deleted}'))"
    ))
    for user in ("a-user0", "stranger"):
        answer = ids(recommend(client, user_id=user, count=20, exclude_seen=False))
        assert hidden not in answer and deleted not in answer and answer
    # A model promoted by another process (a worker) serves at this process's next answer too.
    add_events(tenant, [("late", "b1"), ("late", "b2")])
    _other_process(env, (
        "from recommendations import training; from tenants.models import Tenant; "
        f"tenant = Tenant.objects.get(pk='{tenant.pk}'); "
        "training.model_train(model_id=training.model_train_request(tenant=tenant, enqueue=False).pk)"
    ))
    answer = recommend(client, user_id="a-user0", count=20, exclude_seen=False)
    assert answer["model_version"] == first.version + 1
    assert hidden not in ids(answer) and deleted not in ids(answer)
