"""MovieLens-100k through the API, in process (Django's test client: every middleware, the
gateway and an API key, but no server socket): upload, ingest the 75 % training split, train,
then ask `POST /api/v1/recommendations` for every user and score the held-out 25 %.

Run against a scratch database (it creates a tenant `bench-movielens`, replacing an earlier one):

    DATABASE_URL=postgres://…/scratch .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://…/scratch .venv/bin/python bench/recommendations_api.py ml-100k.inter ml-100k.item
(the files: see bench/recommendations_movielens.py)
"""
import os
import sys
import time
from pathlib import Path

import django
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("RATELIMIT_ENABLED", "false")
# The bench trains once, itself: an ingest-triggered training would make its request a 409.
os.environ.setdefault("RECOMMENDER_RETRAIN_AFTER_INTERACTIONS", "0")
django.setup()

from django.test import Client  # noqa: E402

from apikeys import services as key_services  # noqa: E402
from recommendations import engine, training  # noqa: E402
from tenants.models import Tenant  # noqa: E402


def rows(path):
    with open(path, encoding="latin-1") as lines:
        return [line.rstrip("\n").split("\t") for line in lines][1:]


def main(inter_path, item_path):
    Tenant.objects.filter(slug="bench-movielens").delete()
    tenant = Tenant.objects.create(slug="bench-movielens", name="bench")
    _key, secret = key_services.api_key_create(tenant=tenant, name="bench", scopes=["read", "write"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_HOST="localhost")
    post = lambda path, body: client.post(path, body, content_type="application/json")  # noqa: E731
    items = [{"id": r[0], "title": r[1] or r[0]} for r in rows(item_path)]
    for start in range(0, len(items), 1000):
        assert post("/api/v1/items", {"items": items[start:start + 1000]}).status_code == 200
    ratings = rows(inter_path)
    users = np.asarray([int(r[0]) for r in ratings])
    item_ids = np.asarray([int(r[1]) for r in ratings])
    user_codes = np.unique(users, return_inverse=True)[1]
    item_codes = np.unique(item_ids, return_inverse=True)[1]
    matrix = engine.user_item_matrix(user_codes, item_codes, np.ones(len(users), np.float32),
                                     user_codes.max() + 1, item_codes.max() + 1)
    _train, test_users, truths = engine.holdout_split(matrix)
    held = {(u, i) for u, truth in zip(test_users, truths, strict=True) for i in truth}
    keep = [n for n in range(len(users)) if (user_codes[n], item_codes[n]) not in held]
    events = [{"user_id": str(users[n]), "item_id": str(item_ids[n]), "type": "rating",
               "timestamp": "1998-01-01T00:00:00Z"} for n in keep]
    started = time.perf_counter()
    for start in range(0, len(events), 5000):
        response = post("/api/v1/interactions", {"interactions": events[start:start + 5000]})
        assert response.status_code == 202 and not response.json()["rejected"], response.content[:300]
    ingest = time.perf_counter() - started
    model = training.model_train(model_id=training.model_train_request(tenant=tenant, enqueue=False).pk)
    code_to_user = np.unique(users)
    code_to_item = np.unique(item_ids)
    discounts = 1 / np.log2(np.arange(2, 12))
    ndcgs, latencies = [], []
    for user, truth in zip(test_users, truths, strict=True):
        started = time.perf_counter()
        answer = post("/api/v1/recommendations", {"user_id": str(code_to_user[user]), "count": 10}).json()
        latencies.append(time.perf_counter() - started)
        truth_ids = {str(code_to_item[i]) for i in truth}
        hits = np.asarray([item["id"] in truth_ids for item in answer["items"]] + [False] * 10)[:10]
        ndcgs.append((hits * discounts).sum() / discounts[:min(len(truth_ids), 10)].sum())
    latencies = np.asarray(latencies) * 1000
    print(f"ingest {len(events)} events in {ingest:.1f} s ({len(events) / ingest:.0f}/s, 5,000 a call)")
    print(f"model v{model.version} {model.status} {model.algorithm} {model.metrics} {model.duration_ms} ms")
    print(f"API NDCG@10 {np.mean(ndcgs):.4f} over {len(ndcgs)} users; one client: "
          f"p50 {np.percentile(latencies, 50):.1f} ms, p99 {np.percentile(latencies, 99):.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
