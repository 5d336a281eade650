"""`ML_ENGINE_URL`: recommendations and training delegated to a remote engine that speaks this
API's own JSON (`POST /api/v1/recommendations`, `/items`, `/interactions`,
`/recommendation-models/train`), the tenant named by the `X-Tenant-Id` header.

Every call goes through the outbound guard (`core.outbound`) with `ML_ENGINE_TIMEOUT_SECONDS`.
A recommendation the engine cannot give (unreachable, slow, an error status, JSON of another
shape) raises `EngineUnavailable`, and serving answers with popularity instead (`strategy:
"popular"`). The engine's items pass the same visibility filter as local answers, so hidden,
deleted and off-category items never appear whatever the engine says.
"""
from __future__ import annotations

import json
import math

from django.conf import settings

from core import outbound
from recommendations.models import Interaction, Item

MAX_RESPONSE_BYTES = 1_000_000
ITEMS_PER_CALL = 1000
EVENTS_PER_CALL = 10_000
ALGORITHM = "remote"  # a model row trained by the engine (no local vectors)
TRAIN_TIMEOUT_FACTOR = 10  # uploads and the train call move more data than one answer


class EngineUnavailable(Exception):
    """The remote engine gave no usable answer."""


def enabled() -> bool:
    return bool(settings.ML_ENGINE_URL)


def _call(tenant, path: str, body: dict, *, timeout: float) -> dict:
    headers = {"Content-Type": "application/json", "Accept": "application/json", "X-Tenant-Id": str(tenant.pk)}
    if settings.ML_ENGINE_TOKEN:
        headers["Authorization"] = f"Bearer {settings.ML_ENGINE_TOKEN}"
    url = settings.ML_ENGINE_URL.rstrip("/") + path
    try:
        response = outbound.request_sync("POST", url, headers=headers, content=json.dumps(body).encode(),
                                         timeout=timeout, max_bytes=MAX_RESPONSE_BYTES, follow_redirects=0)
    except (outbound.OutboundBlocked, outbound.OutboundError) as exc:
        raise EngineUnavailable(f"unreachable: {exc}") from exc
    if not 200 <= response.status < 300:
        raise EngineUnavailable(f"answered HTTP {response.status}")
    try:
        data = json.loads(response.body)
    except ValueError as exc:
        raise EngineUnavailable("answered something that is not JSON") from exc
    if not isinstance(data, dict):
        raise EngineUnavailable("answered JSON that is not an object")
    return data


def recommend(*, tenant, user_id: str, count: int, category: str | None, exclude_seen: bool) -> dict:
    """The engine's answer: `{strategy, model_version, ranked: [(external id, score)]}`."""
    body = {"user_id": user_id, "count": count, "exclude_seen": exclude_seen}
    if category:
        body["category"] = category
    data = _call(tenant, "/api/v1/recommendations", body, timeout=settings.ML_ENGINE_TIMEOUT_SECONDS)
    items = data.get("items")
    version = data.get("model_version")
    if not isinstance(items, list) or not (version is None or (isinstance(version, int) and version >= 0)):
        raise EngineUnavailable("answered JSON that is not a recommendation")
    ranked = []
    for item in items:
        score = item.get("score") if isinstance(item, dict) else None
        if not (isinstance(item, dict) and isinstance(item.get("id"), str) and isinstance(score, int | float)
                and not isinstance(score, bool) and math.isfinite(score)):
            raise EngineUnavailable("answered an item that is not {id, title, score}")
        ranked.append((item["id"], float(score)))
    strategy = data.get("strategy") if data.get("strategy") in ("personalized", "popular") else "personalized"
    return {"strategy": strategy, "model_version": version, "ranked": ranked}


def train(*, tenant) -> dict:
    """Send the tenant's catalogue and interactions (each event with its stored id, so a repeat
    upload is a no-op for an engine that honours ids), then ask the engine to train; returns the
    engine's model JSON. Raises EngineUnavailable on any failed call."""
    timeout = settings.ML_ENGINE_TIMEOUT_SECONDS * TRAIN_TIMEOUT_FACTOR
    batch: list[dict] = []
    items = Item.objects.for_tenant(tenant).order_by("pk").values_list(
        "external_id", "title", "description", "categories", "properties", "hidden")
    for external_id, title, description, categories, properties, hidden in items.iterator(chunk_size=ITEMS_PER_CALL):
        batch.append({"id": external_id, "title": title, "description": description, "categories": categories,
                      "properties": properties, "hidden": hidden})
        if len(batch) == ITEMS_PER_CALL:
            _call(tenant, "/api/v1/items", {"items": batch}, timeout=timeout)
            batch = []
    if batch:
        _call(tenant, "/api/v1/items", {"items": batch}, timeout=timeout)
    batch = []
    events = Interaction.objects.for_tenant(tenant).order_by("pk").values_list(
        "pk", "user_id", "item__external_id", "type", "value", "timestamp")
    for pk, user_id, item_id, kind, value, timestamp in events.iterator(chunk_size=EVENTS_PER_CALL):
        event = {"id": str(pk), "user_id": user_id, "item_id": item_id, "type": kind,
                 "timestamp": timestamp.isoformat()}
        if value is not None:
            event["value"] = value
        batch.append(event)
        if len(batch) == EVENTS_PER_CALL:
            _call(tenant, "/api/v1/interactions", {"interactions": batch}, timeout=timeout)
            batch = []
    if batch:
        _call(tenant, "/api/v1/interactions", {"interactions": batch}, timeout=timeout)
    return _call(tenant, "/api/v1/recommendation-models/train", {}, timeout=timeout)
