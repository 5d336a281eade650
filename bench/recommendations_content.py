"""Content embeddings (recommendations/content.py) on MovieLens-100k: the model's load time and
speed, and what blending content in does for users with few items.

Each item's text is "title (year). genres" from ml-100k.item. The protocol's split (per user
75/25, fixed seed); then a sample of users keeps only `k` of their training items (the rest of
the matrix is unchanged) and is scored on its held-out items with collaborative scores alone,
blended with content at several weights (engine.blend), content alone and popularity — NDCG@10,
full ranking, training items excluded.

    .venv/bin/python bench/recommendations_content.py ml-100k.inter ml-100k.item
(the files: see bench/recommendations_movielens.py)
"""
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from recommendations import content, engine  # noqa: E402

SAMPLE_USERS = 400
WEIGHTS = [0.0, 0.25, 0.5, 1.0, 2.0]


def rows(path):
    with open(path, encoding="latin-1") as lines:
        return [line.rstrip("\n").split("\t") for line in lines][1:]


def ndcg(scores, train_items, truth):
    scores = scores.astype(np.float64).copy()
    scores[train_items] = -np.inf
    top = np.argsort(-scores, kind="stable")[:engine.K]
    discounts = 1.0 / np.log2(np.arange(2, engine.K + 2))
    ideal = discounts[: min(len(truth), engine.K)].sum()
    return float((np.isin(top, truth) * discounts).sum() / ideal)


def main(inter_path, item_path):
    ratings = rows(inter_path)
    users = np.unique([int(r[0]) for r in ratings], return_inverse=True)[1]
    item_ids, items = np.unique([int(r[1]) for r in ratings], return_inverse=True)
    n_users, n_items = users.max() + 1, items.max() + 1
    texts_by_id = {int(r[0]): content.item_text(f"{r[1]} ({r[2]})", r[3] if len(r) > 3 else "")
                   for r in rows(item_path)}
    texts = [texts_by_id.get(int(i), "") for i in item_ids]

    started = time.perf_counter()
    content.model()
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    embeddings = content.embed(texts)
    embedded = time.perf_counter() - started
    long_texts = [content.item_text(t, " ".join([t] * 12)) for t in texts]  # ~100-word descriptions
    started = time.perf_counter()
    content.embed(long_texts)
    embedded_long = time.perf_counter() - started
    print(f"model load {loaded:.2f} s; {len(texts)} item texts in {embedded:.3f} s ({len(texts) / embedded:,.0f}/s); "
          f"~100-word texts {len(texts) / embedded_long:,.0f}/s")

    matrix = engine.user_item_matrix(users, items, np.ones(len(users), np.float32), n_users, n_items)
    train, test_users, truths = engine.holdout_split(matrix)
    pop = np.asarray(train.sum(axis=0)).ravel().astype(np.float32)
    pop /= pop.max()
    rng = np.random.default_rng(engine.EVAL_SEED)
    sample = rng.choice(len(test_users), SAMPLE_USERS, replace=False)
    for keep in (1, 3, 5):
        few = train.tolil(copy=True)
        kept = {}
        for index in sample:
            user = test_users[index]
            have = train.indices[train.indptr[user]:train.indptr[user + 1]]
            kept[user] = rng.choice(have, size=min(keep, len(have)), replace=False)
            few.rows[user], few.data[user] = sorted(kept[user].tolist()), [float(np.log1p(1.0))] * len(kept[user])
        few = few.tocsr()
        similarity, _algorithm = engine.fit_similarity(few)
        results = {f"blend {w}": [] for w in WEIGHTS} | {"content only": [], "popularity": []}
        for index in sample:
            user = test_users[index]
            codes = kept[user]
            taste = np.full(len(codes), np.log1p(1.0))
            collaborative = np.asarray(similarity[codes].T @ taste).ravel() + 1e-6 * pop
            by_content = engine.content_scores(embeddings, codes, taste)
            for weight in WEIGHTS:
                results[f"blend {weight}"].append(ndcg(engine.blend(collaborative, by_content, weight), codes,
                                                       truths[index]))
            results["content only"].append(ndcg(by_content, codes, truths[index]))
            results["popularity"].append(ndcg(pop, codes, truths[index]))
        print(f"{SAMPLE_USERS} users keeping {keep} item(s): "
              + ", ".join(f"{name} {np.mean(values):.4f}" for name, values in results.items()))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
