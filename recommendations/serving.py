"""Answers from memory: each web process keeps the newest ready model of recent tenants.

Per request: one indexed query for the tenant's newest ready version (so a promotion anywhere
is seen by every process on its next request), one for the user's recent history, and one or a
few for the visibility and titles of the top candidates (hidden, deleted and — with
`category` — off-category items are dropped there, so such changes count at once). Vectors are
loaded from the database only when the version changes.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count
from django.utils import timezone

from recommendations import engine, metrics, remote
from recommendations.models import Interaction, Item, ModelArtifact, RecommendationModel

logger = logging.getLogger("groundstation.recommendations")
HISTORY_LIMIT = 500  # a user's newest events that shape their answer
MAX_CANDIDATES = 5000  # ranked candidates walked to fill one answer past hidden/filtered items
LIVE_POPULAR_DAYS = 30
LIVE_POPULAR_LIMIT = 1000
LIVE_POPULAR_SECONDS = 60


@dataclass
class ServedModel:
    model_id: uuid.UUID
    version: int
    vectors: engine.Vectors
    keys: list[uuid.UUID] = field(default_factory=list)  # row of the vectors → item pk
    codes: dict[uuid.UUID, int] = field(default_factory=dict)  # item pk → row of the vectors

    @classmethod
    def build(cls, model_id, version: int, vectors: engine.Vectors) -> ServedModel:
        # Parsed once per load, not per candidate per request.
        keys = [uuid.UUID(key.decode()) for key in vectors.item_keys]
        return cls(model_id, version, vectors, keys, {key: code for code, key in enumerate(keys)})

    def key(self, code: int) -> uuid.UUID:
        return self.keys[code]


class _Models:
    """An LRU of tenants' served models in this process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._models: OrderedDict[uuid.UUID, ServedModel] = OrderedDict()

    def get(self, tenant) -> ServedModel | None:
        # A remote engine's models have no vectors here (an ML_ENGINE_URL since unset).
        newest = (RecommendationModel.objects.for_tenant(tenant).filter(status=RecommendationModel.Status.READY)
                  .exclude(algorithm=remote.ALGORITHM).order_by("-version").values_list("pk", "version").first())
        if newest is None:
            return None
        model_id, version = newest
        with self._lock:
            served = self._models.get(tenant.pk)
            if served is not None and served.model_id == model_id:
                self._models.move_to_end(tenant.pk)
                return served
        blob = ModelArtifact.objects.filter(model_id=model_id).values_list("data", flat=True).first()
        if blob is None:
            return None
        served = ServedModel.build(model_id, version, engine.Vectors.loads(bytes(blob)))
        with self._lock:
            self._models[tenant.pk] = served
            self._models.move_to_end(tenant.pk)
            while len(self._models) > settings.RECOMMENDER_CACHED_TENANTS:
                self._models.popitem(last=False)
        return served

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


models = _Models()


def _visible(tenant, ranked: list[tuple[uuid.UUID, float]], *, count: int, category: str | None) -> list[dict]:
    """The first `count` of `ranked` that exist, are not hidden and (optionally) are in `category`."""
    answer: list[dict] = []
    step = 2 * count + 10  # most candidates are visible: a small first chunk, more only when needed
    for start in range(0, min(len(ranked), MAX_CANDIDATES), step):
        chunk = ranked[start:start + step]
        rows = Item.objects.for_tenant(tenant).filter(pk__in=[key for key, _score in chunk], hidden=False)
        if category:
            rows = rows.filter(category_rows__name=category)
        found = {pk: (external_id, title) for pk, external_id, title in rows.values_list("pk", "external_id", "title")}
        for key, score in chunk:
            if key in found:
                external_id, title = found[key]
                answer.append({"id": external_id, "title": title, "score": round(float(score), 6)})
                if len(answer) == count:
                    return answer
    return answer


def _history(tenant, user_id: str) -> list[tuple[uuid.UUID, str, float | None]]:
    return list(Interaction.objects.for_tenant(tenant).filter(user_id=user_id).order_by("-timestamp")
                .values_list("item_id", "type", "value")[:HISTORY_LIMIT])


def _ranked(served: ServedModel, scores: np.ndarray, limit: int) -> list[tuple[uuid.UUID, float]]:
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) > limit:
        finite = finite[np.argpartition(-scores[finite], limit - 1)[:limit]]
    order = finite[np.argsort(-scores[finite], kind="stable")]
    return [(served.key(code), float(scores[code])) for code in order]


def _live_popular(tenant) -> list[tuple[uuid.UUID, float]]:
    """Before a tenant's first model: the most interacted-with items of the last 30 days,
    cached for a minute (an aggregate over recent events, not per request)."""
    key = f"recommendations:live-popular:{tenant.pk}"
    ranked = cache.get(key)
    if ranked is None:
        since = timezone.now() - timedelta(days=LIVE_POPULAR_DAYS)
        counts = list(Interaction.objects.for_tenant(tenant).filter(received_at__gte=since)
                      .values("item_id").annotate(n=Count("id")).order_by("-n", "item_id")
                      .values_list("item_id", "n")[:LIVE_POPULAR_LIMIT])
        peak = counts[0][1] if counts else 1
        ranked = [(item_id, n / peak) for item_id, n in counts]
        cache.set(key, ranked, LIVE_POPULAR_SECONDS)
    return ranked


def recommend(*, tenant, user_id: str, count: int = 10, category: str | None = None,
              exclude_seen: bool = True) -> dict:
    """The answer of the remote engine (ML_ENGINE_URL) or of the served model; popularity when
    the engine fails or the user has no history."""
    started = time.perf_counter()
    engine_used = "local"
    if remote.enabled():
        try:
            answer = _recommend_remote(tenant=tenant, user_id=user_id, count=count, category=category,
                                       exclude_seen=exclude_seen)
            engine_used = "remote"
        except remote.EngineUnavailable as exc:
            logger.warning("remote engine unavailable, answering with popularity", extra={"error": str(exc)})
            engine_used = "fallback"
            answer = _recommend_local(tenant=tenant, user_id=user_id, count=count, category=category,
                                      exclude_seen=exclude_seen, personal=False)
    else:
        answer = _recommend_local(tenant=tenant, user_id=user_id, count=count, category=category,
                                  exclude_seen=exclude_seen)
    metrics.observe(answer["strategy"], engine_used, time.perf_counter() - started)
    return answer


def _recommend_remote(*, tenant, user_id: str, count: int, category: str | None, exclude_seen: bool) -> dict:
    answer = remote.recommend(tenant=tenant, user_id=user_id, count=count, category=category,
                              exclude_seen=exclude_seen)
    ranked = answer["ranked"][:MAX_CANDIDATES]
    rows = Item.objects.for_tenant(tenant).filter(external_id__in=[key for key, _score in ranked], hidden=False)
    if category:
        rows = rows.filter(category_rows__name=category)
    titles = dict(rows.values_list("external_id", "title"))
    items = [{"id": key, "title": titles[key], "score": round(score, 6)} for key, score in ranked if key in titles]
    return {"user_id": user_id, "strategy": answer["strategy"], "model_version": answer["model_version"],
            "items": items[:count]}


def _recommend_local(*, tenant, user_id: str, count: int, category: str | None, exclude_seen: bool,
                     personal: bool = True) -> dict:
    served = models.get(tenant)
    history = _history(tenant, user_id)
    seen = {item_id for item_id, _kind, _value in history}
    limit = min(MAX_CANDIDATES, count + len(seen) + 4 * count) if not category else MAX_CANDIDATES
    strategy, version = "popular", None
    if served is None:
        ranked = [(key, score) for key, score in _live_popular(tenant) if not (exclude_seen and key in seen)]
    else:
        version = served.version
        vectors = served.vectors
        weights: dict[int, float] = {}
        for item_id, kind, value in history:
            code = served.codes.get(item_id)
            if code is not None:
                weights[code] = weights.get(code, 0.0) + engine.event_weight(kind, value)
        scores = vectors.popularity.astype(np.float64)
        if weights and personal:
            codes = np.fromiter(weights, dtype=np.int64)
            taste = np.log1p(np.fromiter(weights.values(), dtype=np.float64))
            personal = np.asarray(vectors.similarity[codes].T @ taste).ravel()
            if personal.any():
                strategy = "personalized"
                scores = personal + 1e-6 * scores
        if exclude_seen:
            for item_id in seen:
                code = served.codes.get(item_id)
                if code is not None:
                    scores[code] = -np.inf
        ranked = _ranked(served, scores, limit)
    return {"user_id": user_id, "strategy": strategy, "model_version": version,
            "items": _visible(tenant, ranked, count=count, category=category)}


def similar(*, tenant, item: Item, count: int = 10) -> dict:
    """Item-to-item: the collaborative neighbours of an item with interactions."""
    served = models.get(tenant)
    ranked: list[tuple[uuid.UUID, float]] = []
    strategy, version = "collaborative", None
    if served is not None:
        version = served.version
        code = served.codes.get(item.pk)
        if code is not None:
            row = served.vectors.similarity[code]
            order = np.argsort(-row.data, kind="stable")
            ranked = [(served.key(row.indices[i]), float(row.data[i])) for i in order]
    return {"item_id": item.external_id, "strategy": strategy, "model_version": version,
            "items": _visible(tenant, ranked, count=count, category=None)}
