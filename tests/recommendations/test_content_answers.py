"""Content embeddings in answers: similar items for an item nobody has interacted with, blending
for users with few items, edits counted at the next training, hidden and deleted items never."""
import random

import pytest

from recommendations import engine
from recommendations.models import RecommendationModel
from tests.conftest import bearer_client
from tests.recommendations.helpers import add_events, train_here
from tests.recommendations.test_training_worker import settled, wait_for

KITCHEN = [
    ("Stainless steel frying pan", "A 28 cm frying pan for induction, gas and electric hobs."),
    ("Non-stick skillet", "Skillet with a non-stick coating for eggs and pancakes."),
    ("Cast iron casserole pot", "Heavy cooking pot with a lid for stews and braising."),
    ("Chef's kitchen knife", "A sharp 20 cm knife for chopping vegetables and meat."),
    ("Wooden cutting board", "Chopping board made of oak for the kitchen."),
    ("Saucepan set", "Three saucepans with glass lids for cooking sauces and soups."),
    ("Wok", "Carbon steel wok for stir frying vegetables and noodles."),
    ("Kitchen spatula", "Silicone spatula for cooking and baking."),
    ("Baking tray", "Oven tray for baking bread, cookies and roasting vegetables."),
    ("Pressure cooker", "A six litre pressure cooker for fast cooking of beans and rice."),
]
RUNNING = [
    ("Trail running shoes", "Running shoes with a grippy sole for muddy trails."),
    ("Road running sneakers", "Light cushioned sneakers for jogging on asphalt."),
    ("Running socks", "Breathable socks that prevent blisters on long runs."),
    ("Running shorts", "Lightweight shorts with a pocket for runners."),
    ("GPS running watch", "Sports watch that tracks pace, distance and heart rate on your runs."),
    ("Hydration vest", "A running vest with water flasks for marathon and trail races."),
    ("Running jacket", "Waterproof jacket for runners training in the rain."),
    ("Compression tights", "Running tights that support the muscles during a run."),
    ("Headlamp for runners", "A bright headlamp for running at night."),
    ("Marathon energy gels", "Energy gels for runners during a marathon."),
]
COLD = {
    "new-pan": ("Copper frying pan", "A frying pan for cooking on gas and induction hobs."),
    "new-shoe": ("Waterproof trail running shoes", "Running shoes for wet and muddy trails."),
    "hidden-pan": ("Grill frying pan", "A ridged frying pan for cooking on the hob."),
    "gone-pan": ("Frying pan with lid", "A deep frying pan for cooking."),
}


def catalogue(tenant, *, users_per_group=30, seed=11):
    """Kitchen and running items, each bought by its own group of users (so the collaborative
    model beats popularity), and four items nobody has touched, one hidden, one deleted later."""
    from recommendations import services

    items = [{"external_id": f"k{n}", "title": t, "description": d} for n, (t, d) in enumerate(KITCHEN)]
    items += [{"external_id": f"r{n}", "title": t, "description": d} for n, (t, d) in enumerate(RUNNING)]
    items += [{"external_id": key, "title": t, "description": d, "hidden": key == "hidden-pan"}
              for key, (t, d) in COLD.items()]
    services.item_upsert_many(tenant=tenant, items=items)
    rng = random.Random(seed)
    pairs = [(f"{group}-user{user}", f"{group}{item}") for group in "kr" for user in range(users_per_group)
             for item in rng.sample(range(10), 6)]
    add_events(tenant, pairs)


def kitchen(item_id):
    return item_id.startswith("k") or item_id.endswith("-pan")


def ids(answer):
    return [item["id"] for item in answer["items"]]


@pytest.fixture
def client(owner, tenant):
    return bearer_client(owner, tenant)


def test_an_item_without_interactions_gets_its_content_neighbours_from_a_worker_trained_model(
        live_worker, client, tenant):
    catalogue(tenant)
    assert client.post("/api/v1/recommendation-models/train").status_code == 202
    model = wait_for(lambda: settled(tenant, 1))
    assert model.status == "ready", model.error
    assert model.items == len(KITCHEN) + len(RUNNING) + len(COLD)
    client.delete("/api/v1/items/gone-pan")

    pan = client.get("/api/v1/items/new-pan/similar?count=5").json()
    assert pan["strategy"] == "content" and pan["model_version"] == 1
    assert len(pan["items"]) == 5 and all(kitchen(i) for i in ids(pan)), ids(pan)
    assert ids(pan)[0] == "k0"  # the other frying pan
    scores = [item["score"] for item in pan["items"]]
    assert scores == sorted(scores, reverse=True) and 0 < scores[-1] < scores[0] <= 1

    shoe = client.get("/api/v1/items/new-shoe/similar?count=5").json()
    assert shoe["strategy"] == "content" and all(i.startswith("r") for i in ids(shoe)), ids(shoe)
    # Every item's neighbours, as many as there are: never the item itself, a hidden or a deleted one.
    everything = ids(client.get("/api/v1/items/new-pan/similar?count=100").json())
    assert "new-pan" not in everything and "hidden-pan" not in everything and "gone-pan" not in everything
    assert "new-shoe" in everything  # cold items are neighbours too
    # An item with interactions keeps its collaborative neighbours.
    warm = client.get("/api/v1/items/k3/similar?count=5").json()
    assert warm["strategy"] == "collaborative" and all(i.startswith("k") for i in ids(warm))


@pytest.mark.django_db
def test_a_user_with_few_items_gets_content_alike_items_blended_in(client, tenant):
    catalogue(tenant)
    add_events(tenant, [("newcomer", "new-pan")])  # after the split: one cold item, in the model
    train_here(tenant)
    # One item that no collaborative neighbour reaches: the answer is the kitchen by content,
    # where without content it would be popularity.
    answer = client.post("/api/v1/recommendations", {"user_id": "newcomer", "count": 5}, format="json").json()
    assert answer["strategy"] == "personalized"
    assert all(kitchen(i) for i in ids(answer)) and "hidden-pan" not in ids(answer), ids(answer)

    # Two kitchen items: the collaborative neighbours, and the cold pan, which only content reaches.
    add_events(tenant, [("cook", "k0"), ("cook", "k1")])
    few = ids(client.post("/api/v1/recommendations", {"user_id": "cook", "count": 10}, format="json").json())
    assert "new-pan" in few and "hidden-pan" not in few
    # A user with more items than the blend takes gets collaborative scores alone: the cold pan
    # (no neighbour weight, no popularity) comes after every item that has any.
    add_events(tenant, [("regular", f"k{n}") for n in range(engine.CONTENT_BLEND_MAX_ITEMS + 1)])
    many = ids(client.post("/api/v1/recommendations", {"user_id": "regular", "count": 10}, format="json").json())
    assert "new-pan" not in many


@pytest.mark.django_db
def test_an_edited_text_counts_at_the_next_training(client, tenant):
    catalogue(tenant)
    train_here(tenant)
    assert ids(client.get("/api/v1/items/new-pan/similar?count=3").json())[0].startswith("k")
    title, description = COLD["new-shoe"]
    assert client.patch("/api/v1/items/new-pan", {"title": title, "description": description},
                        format="json").status_code == 200
    # The served vectors are the trained ones until the next model.
    assert ids(client.get("/api/v1/items/new-pan/similar?count=3").json())[0].startswith("k")
    add_events(tenant, [("k-user0", "k9")])  # something new to train on
    model = train_here(tenant)
    assert model.status == RecommendationModel.Status.READY and model.version == 2
    after = client.get("/api/v1/items/new-pan/similar?count=3").json()
    assert after["model_version"] == 2 and all(i.startswith("r") or i == "new-shoe" for i in ids(after)), ids(after)
