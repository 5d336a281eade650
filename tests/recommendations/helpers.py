"""Catalogues and interaction histories for the recommender's tests, written through the services."""
import random
from datetime import UTC, datetime, timedelta

from recommendations import services, training

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def add_items(tenant, ids, *, categories=None, **fields):
    services.item_upsert_many(tenant=tenant, items=[
        {"external_id": item_id, "title": f"Title {item_id}", "categories": list(categories or []), **fields}
        for item_id in ids
    ])


def add_events(tenant, pairs, kind="purchase"):
    events = [{"user_id": user, "item_id": item, "type": kind,
               "timestamp": (BASE_TIME + timedelta(minutes=n)).isoformat()} for n, (user, item) in enumerate(pairs)]
    result = services.interactions_ingest(tenant=tenant, events=events)
    assert not result.rejected, result.rejected[:3]
    return result


def two_taste_groups(tenant, *, users_per_group=40, seed=7):
    """Users who like "a" items never touch "b" items and vice versa: collaborative filtering
    recovers the group, popularity cannot (both groups are equally popular)."""
    rng = random.Random(seed)
    add_items(tenant, [f"a{i}" for i in range(10)], categories=["alpha"])
    add_items(tenant, [f"b{i}" for i in range(10)], categories=["beta"])
    pairs = []
    for group in "ab":
        for user in range(users_per_group):
            for item in rng.sample(range(10), 6):
                pairs.append((f"{group}-user{user}", f"{group}{item}"))
    add_events(tenant, pairs)


def train_here(tenant):
    """Train on this process (the worker's code path without the queue)."""
    model = training.model_train_request(tenant=tenant, enqueue=False)
    return training.model_train(model_id=model.pk)
