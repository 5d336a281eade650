"""The built-in recommender: item-to-item collaborative filtering and decayed popularity, in
numpy/scipy, evaluated on a per-user hold-out split of the tenant's own data.

Two item-to-item models, both served the same way (a user's scores are `history @ S`, S sparse
with the strongest `NEIGHBOURS` entries per item): EASE (a closed-form linear item model,
Steck 2019) for catalogues up to `DENSE_MAX_ITEMS` items, where its dense inverse is cheap, and
shrunk-cosine item-kNN above that. On MovieLens-100k (docs/recommendations.md) EASE scores
NDCG@10 0.459 sparsified, item-kNN 0.378, popularity 0.252. Neither needs per-user vectors, so a
user's newest interactions count at once without retraining.

Everything here is pure computation on arrays: no Django, no database.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from scipy import sparse

# How much one event says about a user's taste. A rating counts its value (1–5 stars → 1–10).
TYPE_WEIGHTS = {"view": 1.0, "click": 2.0, "like": 4.0, "add_to_cart": 6.0, "purchase": 10.0, "rating": 5.0}
NEIGHBOURS = 200  # kept per item (ML-100k, EASE: 100 → 0.453, 200 → 0.459, 400 → 0.461)
SHRINK = 10.0  # item-kNN: pulls similarities built on few co-occurrences towards 0
EASE_LAMBDA = 200.0  # ML-100k: 50 → 0.455, 100 → 0.469, 200 → 0.474, 400 → 0.469 (dense)
DENSE_MAX_ITEMS = 5000  # EASE inverts an items × items matrix: 5,000² float64 is 200 MB
EVAL_SEED = 20240601
HOLDOUT_FRACTION = 0.25
EVAL_MAX_USERS = 5000  # evaluation cost is bounded on big tenants: a random sample of users
K = 10
# Users with at most this many distinct items get content similarity blended in, at this weight
# against their collaborative scores scaled to a peak of 1 (bench/recommendations_content.py).
CONTENT_BLEND_MAX_ITEMS = 5
CONTENT_BLEND_WEIGHT = 0.25  # ML-100k, users keeping 3 items: 0 → 0.152, 0.25 → 0.155, 0.5 → 0.153, 1 → 0.148


def event_weight(kind: str, value: float | None) -> float:
    if kind == "rating" and value is not None:
        return float(min(max(value, 0.0), 5.0) * 2.0)
    return TYPE_WEIGHTS[kind]


@dataclass
class Events:
    """A tenant's interactions as parallel arrays (one row per event)."""

    users: np.ndarray  # int32 user codes
    items: np.ndarray  # int32 item codes (index into the item list)
    weights: np.ndarray  # float32
    ages_days: np.ndarray  # float32: how long before the newest event this one happened
    n_users: int
    n_items: int


def user_item_matrix(users, items, weights, n_users: int, n_items: int) -> sparse.csr_matrix:
    """Summed weights per (user, item), dampened: the tenth view says less than the first."""
    matrix = sparse.csr_matrix((weights.astype(np.float32), (users, items)), shape=(n_users, n_items))
    matrix.sum_duplicates()
    matrix.data = np.log1p(matrix.data).astype(np.float32)
    return matrix


def item_similarity(matrix: sparse.csr_matrix, neighbours: int = NEIGHBOURS,
                    shrink: float = SHRINK) -> sparse.csr_matrix:
    """Shrunk cosine similarity between item columns, the `neighbours` strongest per item.

    Row i holds i's neighbours, so a user's scores are `history @ S`.
    """
    columns = matrix.tocsc()
    norms = np.sqrt(np.asarray(columns.multiply(columns).sum(axis=0)).ravel()).astype(np.float32)
    co = (columns.T @ columns).tocsr().astype(np.float32)
    co.setdiag(0)
    co.eliminate_zeros()
    # cosine = dot / (|i| |j| + shrink), computed on the stored entries only
    rows = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
    co.data = co.data / (norms[rows] * norms[co.indices] + shrink)
    return _top_per_row(co, neighbours)


def ease_similarity(matrix: sparse.csr_matrix, neighbours: int = NEIGHBOURS,
                    regularisation: float = EASE_LAMBDA) -> sparse.csr_matrix:
    """EASE's item weights B = I − P / diag(P) with P = (XᵀX + λI)⁻¹, zero diagonal; the
    strongest positive `neighbours` per row are kept (negative weights only demote)."""
    gram = (matrix.T @ matrix).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += regularisation
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)
    weights[np.diag_indices_from(weights)] = 0.0
    weights[weights < 0] = 0.0
    return _top_per_row(sparse.csr_matrix(weights.astype(np.float32)), neighbours)


def fit_similarity(matrix: sparse.csr_matrix) -> tuple[sparse.csr_matrix, str]:
    if matrix.shape[1] <= DENSE_MAX_ITEMS:
        return ease_similarity(matrix), "ease"
    return item_similarity(matrix), "item-knn"


def _top_per_row(matrix: sparse.csr_matrix, keep: int) -> sparse.csr_matrix:
    indptr = [0]
    indices, data = [], []
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        values, cols = matrix.data[start:end], matrix.indices[start:end]
        if len(values) > keep:
            top = np.argpartition(-values, keep - 1)[:keep]
            values, cols = values[top], cols[top]
        indices.append(cols)
        data.append(values)
        indptr.append(indptr[-1] + len(values))
    return sparse.csr_matrix(
        (np.concatenate(data) if data else np.zeros(0, np.float32),
         np.concatenate(indices) if indices else np.zeros(0, np.int32),
         np.asarray(indptr, dtype=np.int64)),
        shape=matrix.shape, dtype=np.float32,
    )


def popularity(events: Events, half_life_days: float) -> np.ndarray:
    """Each event's weight halved every `half_life_days` before the newest one; summed per item."""
    decayed = events.weights * np.power(0.5, events.ages_days / max(half_life_days, 1e-6))
    scores = np.bincount(events.items, weights=decayed, minlength=events.n_items).astype(np.float32)
    peak = scores.max() if scores.size else 0.0
    return scores / peak if peak > 0 else scores


def score_users(history: sparse.csr_matrix, similarity: sparse.csr_matrix, pop: np.ndarray) -> np.ndarray:
    """Dense scores (users × items); popularity breaks ties among items no neighbour reached."""
    scores = (history @ similarity).toarray()
    return scores + 1e-6 * pop[np.newaxis, :]


def content_scores(embeddings: np.ndarray, codes: np.ndarray, taste: np.ndarray) -> np.ndarray:
    """Every item's cosine to the taste-weighted mean of the embeddings of a user's items (zero
    everywhere when none of those items has a text the model knows)."""
    profile = taste.astype(np.float32) @ embeddings[codes]
    norm = np.linalg.norm(profile)
    return embeddings @ (profile / norm) if norm > 0 else np.zeros(len(embeddings), np.float32)


def blend(collaborative: np.ndarray, content: np.ndarray, weight: float = CONTENT_BLEND_WEIGHT) -> np.ndarray:
    """Collaborative scores scaled to a peak of 1 plus `weight` × content cosine: a user with few
    items, whose neighbours are few and noisy, also gets items whose texts are like theirs."""
    peak = collaborative.max() if collaborative.size else 0.0
    return (collaborative / peak if peak > 0 else collaborative) + weight * content


def content_neighbours(embeddings: np.ndarray, code: int) -> np.ndarray:
    """Cosine of every item to item `code`, -inf for itself and for items alike in nothing."""
    scores = (embeddings @ embeddings[code]).astype(np.float64)
    scores[scores <= 0] = -np.inf
    scores[code] = -np.inf
    return scores


# --- evaluation -------------------------------------------------------------------------------

def holdout_split(matrix: sparse.csr_matrix, *, seed: int = EVAL_SEED, fraction: float = HOLDOUT_FRACTION):
    """Per user, a random `fraction` of their distinct items held out (users with ≥ 2 items)."""
    rng = np.random.default_rng(seed)
    train = matrix.tolil(copy=True)
    test_users, test_items = [], []
    for user in range(matrix.shape[0]):
        items = matrix.indices[matrix.indptr[user]:matrix.indptr[user + 1]]
        if len(items) < 2:
            continue
        count = max(1, int(round(len(items) * fraction)))
        held = rng.choice(items, size=count, replace=False)
        for item in held:
            train[user, item] = 0
        test_users.append(user)
        test_items.append(np.sort(held))
    train = train.tocsr()
    train.eliminate_zeros()
    return train, test_users, test_items


def _ranking_metrics(scores: np.ndarray, train_rows: sparse.csr_matrix, truths: list[np.ndarray]):
    scores = scores.copy()
    for row in range(scores.shape[0]):
        scores[row, train_rows.indices[train_rows.indptr[row]:train_rows.indptr[row + 1]]] = -np.inf
    k = min(K, scores.shape[1])  # a catalogue smaller than K ranks everything
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    top = np.take_along_axis(top, order, axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ndcg, recall = [], []
    for row, truth in enumerate(truths):
        hits = np.isin(top[row], truth)
        ideal = discounts[: min(len(truth), k)].sum()
        ndcg.append(float((hits * discounts).sum() / ideal))
        recall.append(float(hits.sum() / len(truth)))
    return ndcg, recall


def evaluate(matrix: sparse.csr_matrix, events: Events, *, half_life_days: float) -> dict | None:
    """NDCG@10 and recall@10 of the collaborative model and of popularity on the same hold-out split (full
    ranking over all items, training items excluded). None when no user has two items."""
    train, users, truths = holdout_split(matrix)
    if not users:
        return None
    if len(users) > EVAL_MAX_USERS:
        pick = np.sort(np.random.default_rng(EVAL_SEED).choice(len(users), EVAL_MAX_USERS, replace=False))
        users, truths = [users[i] for i in pick], [truths[i] for i in pick]
    similarity, _algorithm = fit_similarity(train)
    # Popularity from the training part only (held-out events must not leak into it).
    kept = np.asarray(train[events.users, events.items]).ravel() > 0
    train_events = Events(events.users[kept], events.items[kept], events.weights[kept],
                          events.ages_days[kept], events.n_users, events.n_items)
    pop = popularity(train_events, half_life_days)
    ndcg, recall, pop_ndcg = [], [], []
    step = max(16, min(512, 20_000_000 // max(matrix.shape[1], 1)))  # dense score rows: ≤ ~80 MB
    for start in range(0, len(users), step):
        batch = users[start:start + step]
        truth = truths[start:start + step]
        rows = train[batch]
        a, b = _ranking_metrics(score_users(rows, similarity, pop), rows, truth)
        c, _ = _ranking_metrics(np.repeat(pop[np.newaxis, :], len(batch), axis=0), rows, truth)
        ndcg += a
        recall += b
        pop_ndcg += c
    return {
        "ndcg_at_10": round(float(np.mean(ndcg)), 4),
        "recall_at_10": round(float(np.mean(recall)), 4),
        "popularity_ndcg_at_10": round(float(np.mean(pop_ndcg)), 4),
        "evaluated_users": len(users),
    }


# --- storage ----------------------------------------------------------------------------------

@dataclass
class Vectors:
    """What serving needs: item keys, the neighbour matrix, popularity, content embeddings."""

    item_keys: np.ndarray  # the items' primary keys as 32-char hex (bytes), index = item code
    similarity: sparse.csr_matrix
    popularity: np.ndarray
    embeddings: np.ndarray | None = None  # float16 (items × dims), unit length

    def dumps(self) -> bytes:
        buffer = io.BytesIO()
        arrays = {
            "item_keys": self.item_keys.astype("S32"),
            "sim_data": self.similarity.data.astype(np.float32),
            "sim_indices": self.similarity.indices.astype(np.int32),
            "sim_indptr": self.similarity.indptr.astype(np.int64),
            "popularity": self.popularity.astype(np.float32),
        }
        if self.embeddings is not None:
            arrays["embeddings"] = self.embeddings.astype(np.float16)
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def loads(cls, blob: bytes) -> Vectors:
        with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
            keys = archive["item_keys"]
            n = len(keys)
            similarity = sparse.csr_matrix(
                (archive["sim_data"], archive["sim_indices"], archive["sim_indptr"]), shape=(n, n))
            embeddings = archive["embeddings"].astype(np.float32) if "embeddings" in archive else None
            return cls(keys, similarity, archive["popularity"], embeddings)
