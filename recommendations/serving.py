"""Answers from memory: each web process keeps the newest ready model of recent tenants, with
its items as the catalogue has them now.

Per request, one statement (`_lookup`) reads the tenant's newest ready model, its catalogue
version and the user's recent history. The process's copy is used as long as both numbers match
it; when a model was promoted, the vectors are loaded, and when the catalogue version moved (any
item upsert, change, hide or delete: `services._catalogue_changed`, in the writer's transaction),
the model's items — ids, titles, hidden, categories — are read again before answering. So a
promotion, a hide or a delete in any process counts at the next answer of every process, and an
answer needs no other query: hidden, deleted, seen and off-category items are masked in numpy.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from recommendations import engine, metrics, remote
from recommendations.models import (
    CatalogueVersion,
    Interaction,
    Item,
    ItemCategory,
    ModelArtifact,
    RecommendationModel,
)

logger = logging.getLogger("groundstation.recommendations")
HISTORY_LIMIT = 500  # a user's newest events that shape their answer
MAX_CANDIDATES = 5000  # ranked candidates walked to fill one answer past hidden/filtered items (no model)
LIVE_POPULAR_DAYS = 30
LIVE_POPULAR_LIMIT = 1000
LIVE_POPULAR_SECONDS = 60


@dataclass(frozen=True)
class Catalogue:
    """The served model's items (by vector row) as the catalogue had them at `version`."""

    version: int
    ids: list  # the tenant's own id per row; None: deleted since training
    titles: list
    blocked: np.ndarray  # bool per row: hidden or deleted
    categories: dict  # category name → rows in it (int array)


@dataclass
class ServedModel:
    model_id: uuid.UUID
    version: int
    vectors: engine.Vectors
    keys: list[uuid.UUID] = field(default_factory=list)  # row of the vectors → item pk
    codes: dict[uuid.UUID, int] = field(default_factory=dict)  # item pk → row of the vectors
    catalogue: Catalogue | None = None

    @classmethod
    def build(cls, model_id, version: int, vectors: engine.Vectors) -> ServedModel:
        # Parsed once per load, not per candidate per request.
        keys = [uuid.UUID(key.decode()) for key in vectors.item_keys]
        return cls(model_id, version, vectors, keys, {key: code for code, key in enumerate(keys)})

    def key(self, code: int) -> uuid.UUID:
        return self.keys[code]


def _as_uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)  # SQLite returns hex text


def _lookup(tenant, user_id: str | None) -> tuple[uuid.UUID | None, int, list[tuple[uuid.UUID, str, float | None]]]:
    """(newest ready local model, catalogue version, the user's newest events) in one round trip:
    this statement is the only database work of an answer from a warm process."""
    model_meta, catalogue_meta, event_meta = RecommendationModel._meta, CatalogueVersion._meta, Interaction._meta
    quote = connection.ops.quote_name
    tenant_key = event_meta.get_field("tenant").target_field.get_db_prep_value(tenant.pk, connection)
    # Names come from the models; every value is a parameter. The first row (kind 0) carries
    # the two numbers, the others (kind 1) the history; UNION ALL keeps them in one answer.
    sql = (
        f"SELECT 0, (SELECT m.{quote('id')} FROM {quote(model_meta.db_table)} m"  # noqa: S608
        f" WHERE m.{quote('tenant_id')} = %s AND m.{quote('status')} = %s AND m.{quote('algorithm')} <> %s"
        f" ORDER BY m.{quote('version')} DESC LIMIT 1),"
        f" (SELECT c.{quote('version')} FROM {quote(catalogue_meta.db_table)} c WHERE c.{quote('tenant_id')} = %s),"
        " NULL, NULL, NULL"
        " UNION ALL SELECT 1, NULL, NULL, h.item_id, h.kind, h.value FROM"
        f" (SELECT e.{quote('item_id')} AS item_id, e.{quote('type')} AS kind, e.{quote('value')} AS value"
        f" FROM {quote(event_meta.db_table)} e WHERE e.{quote('tenant_id')} = %s AND e.{quote('user_id')} = %s"
        f" ORDER BY e.{quote('timestamp')} DESC LIMIT {HISTORY_LIMIT}) h"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [tenant_key, RecommendationModel.Status.READY, remote.ALGORITHM, tenant_key,
                             tenant_key, user_id])
        rows = cursor.fetchall()
    model_id, catalogue_version, history = None, 0, []
    for kind, model, catalogue, item_id, event_type, value in rows:
        if kind == 0:
            model_id = _as_uuid(model) if model is not None else None
            catalogue_version = catalogue or 0
        else:
            history.append((_as_uuid(item_id), event_type, value))
    return model_id, catalogue_version, history


def _catalogue(tenant, served: ServedModel, version: int) -> Catalogue:
    """The served rows' ids, titles, visibility and categories, read after `version` was: a
    copy at least as new as that number (a later change moves it again)."""
    size = len(served.keys)
    ids: list = [None] * size
    titles: list = [""] * size
    blocked = np.ones(size, dtype=bool)
    for pk, external_id, title, hidden in (Item.objects.for_tenant(tenant)
                                           .values_list("pk", "external_id", "title", "hidden")
                                           .order_by().iterator(chunk_size=10_000)):
        code = served.codes.get(pk)
        if code is not None:
            ids[code], titles[code], blocked[code] = external_id, title, hidden
    members: dict[str, list[int]] = {}
    for item_id, name in (ItemCategory.objects.filter(tenant=tenant).values_list("item_id", "name")
                          .order_by().iterator(chunk_size=10_000)):
        code = served.codes.get(item_id)
        if code is not None:
            members.setdefault(name, []).append(code)
    categories = {name: np.asarray(codes, dtype=np.int64) for name, codes in members.items()}
    return Catalogue(version, ids, titles, blocked, categories)


class _Models:
    """An LRU of tenants' served models in this process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._models: OrderedDict[uuid.UUID, ServedModel] = OrderedDict()

    def get(self, tenant) -> ServedModel | None:
        model_id, catalogue_version, _history = _lookup(tenant, None)
        return self.served(tenant, model_id, catalogue_version)

    def served(self, tenant, model_id: uuid.UUID | None, catalogue_version: int) -> ServedModel | None:
        """The served model `model_id` with its catalogue at `catalogue_version`, from memory
        when this process has them; loaded (vectors) or rebuilt (catalogue) when not."""
        if model_id is None:
            return None
        with self._lock:
            served = self._models.get(tenant.pk)
            if served is not None and served.model_id == model_id:
                self._models.move_to_end(tenant.pk)
                if served.catalogue is not None and served.catalogue.version == catalogue_version:
                    return served
        if served is None or served.model_id != model_id:
            blob = ModelArtifact.objects.filter(model_id=model_id).values_list("data", flat=True).first()
            if blob is None:
                return None
            version = RecommendationModel.objects.filter(pk=model_id).values_list("version", flat=True).first()
            served = ServedModel.build(model_id, version, engine.Vectors.loads(bytes(blob)))
        # A new object, never a change of the shared one: other threads may be answering from it.
        served = replace(served, catalogue=_catalogue(tenant, served, catalogue_version))
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


def _answer_from_memory(served: ServedModel, scores: np.ndarray, *, count: int, category: str | None) -> list[dict]:
    """The best `count` rows that are neither hidden nor deleted (nor, with `category`, outside
    it): masked, then partially sorted; ids and titles from the process's catalogue copy."""
    catalogue = served.catalogue
    scores[catalogue.blocked] = -np.inf
    if category:
        inside = np.zeros(len(scores), dtype=bool)
        inside[catalogue.categories.get(category, np.empty(0, dtype=np.int64))] = True
        scores[~inside] = -np.inf
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) > count:
        finite = finite[np.argpartition(-scores[finite], count - 1)[:count]]
    order = finite[np.argsort(-scores[finite], kind="stable")]
    return [{"id": catalogue.ids[code], "title": catalogue.titles[code], "score": round(float(scores[code]), 6)}
            for code in order]


def _recommend_local(*, tenant, user_id: str, count: int, category: str | None, exclude_seen: bool,
                     personal: bool = True) -> dict:
    model_id, catalogue_version, history = _lookup(tenant, user_id)
    served = models.served(tenant, model_id, catalogue_version)
    seen = {item_id for item_id, _kind, _value in history}
    if served is None:  # no model yet: recent popularity, visibility from the table
        ranked = [(key, score) for key, score in _live_popular(tenant) if not (exclude_seen and key in seen)]
        return {"user_id": user_id, "strategy": "popular", "model_version": None,
                "items": _visible(tenant, ranked, count=count, category=category)}
    strategy = "popular"
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
        affinity = np.asarray(vectors.similarity[codes].T @ taste).ravel()
        if vectors.embeddings is not None and len(codes) <= engine.CONTENT_BLEND_MAX_ITEMS:
            affinity = engine.blend(affinity, engine.content_scores(vectors.embeddings, codes, taste))
        if affinity.any():
            strategy = "personalized"
            scores = affinity + 1e-6 * scores
    if exclude_seen and weights:
        scores[np.fromiter(weights, dtype=np.int64)] = -np.inf
    return {"user_id": user_id, "strategy": strategy, "model_version": served.version,
            "items": _answer_from_memory(served, scores, count=count, category=category)}


def similar(*, tenant, item: Item, count: int = 10) -> dict:
    """Item-to-item: the collaborative neighbours of an item with interactions, the content
    neighbours (title + description) of one without."""
    served = models.get(tenant)
    ranked: list[tuple[uuid.UUID, float]] = []
    strategy, version = "collaborative", None
    if served is not None:
        version = served.version
        code = served.codes.get(item.pk)
        row = served.vectors.similarity[code] if code is not None else None
        if row is not None and not row.nnz and served.vectors.embeddings is not None:
            return {"item_id": item.external_id, "strategy": "content", "model_version": version,
                    "items": _answer_from_memory(served, engine.content_neighbours(served.vectors.embeddings, code),
                                                 count=count, category=None)}
        if row is not None:
            order = np.argsort(-row.data, kind="stable")
            ranked = [(served.key(row.indices[i]), float(row.data[i])) for i in order]
    return {"item_id": item.external_id, "strategy": strategy, "model_version": version,
            "items": _visible(tenant, ranked, count=count, category=None)}
