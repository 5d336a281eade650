"""Training a tenant's model: requested (API, admin, schedule), then run on a Celery worker.

A request inserts a `training` row; a partial unique index allows one per tenant, so two
trainings of one tenant never run at once (the second request is refused, 409). The worker
evaluates on a hold-out split, refits on all data, embeds the catalogue's texts (content.py),
stores the vectors and marks the model `ready` only when it beats popularity on that split;
otherwise `failed`, and the previous ready model keeps serving. Serving never waits for any of
it (it reads the newest ready version).
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from recommendations import content, engine, remote
from recommendations.models import Interaction, Item, ModelArtifact, RecommendationModel

logger = logging.getLogger("groundstation.recommendations")
Status = RecommendationModel.Status


class TrainingInProgress(Exception):
    """The tenant already has a model in training."""


def _fail_stale_trainings(tenant) -> None:
    """A training whose worker died (older than the timeout) must not block the tenant forever."""
    limit = timezone.now() - timedelta(minutes=settings.RECOMMENDER_TRAINING_TIMEOUT_MINUTES)
    RecommendationModel.objects.for_tenant(tenant).filter(status=Status.TRAINING, created_at__lt=limit).update(
        status=Status.FAILED, error="The training did not finish in time (worker lost?).")


def model_train_request(*, tenant, actor=None, enqueue: bool = True) -> RecommendationModel:
    """A new model version in `training`, trained by a worker once this transaction commits
    (`enqueue=False`: the caller runs `model_train` itself, as the management command does)."""
    from recommendations.tasks import train_model  # tasks import this module

    _fail_stale_trainings(tenant)
    try:
        with transaction.atomic():
            latest = RecommendationModel.objects.for_tenant(tenant).aggregate(v=Max("version"))["v"] or 0
            model = RecommendationModel.objects.create(tenant=tenant, version=latest + 1, created_by=actor)
    except IntegrityError as exc:
        raise TrainingInProgress() from exc
    if enqueue:
        transaction.on_commit(lambda: train_model.delay(str(model.pk)))
    return model


def _load_events(tenant) -> tuple[engine.Events, list]:
    rows = (Interaction.objects.for_tenant(tenant)
            .values_list("user_id", "item_id", "type", "value", "timestamp").iterator(chunk_size=20_000))
    user_codes: dict[str, int] = {}
    item_codes: dict = {}
    users, items, weights, stamps = [], [], [], []
    for user_id, item_id, kind, value, timestamp in rows:
        users.append(user_codes.setdefault(user_id, len(user_codes)))
        items.append(item_codes.setdefault(item_id, len(item_codes)))
        weights.append(engine.event_weight(kind, value))
        stamps.append(timestamp.timestamp())
    seconds = np.asarray(stamps, dtype=np.float64)
    ages = ((seconds.max() - seconds) / 86400.0) if len(seconds) else seconds
    events = engine.Events(np.asarray(users, np.int32), np.asarray(items, np.int32),
                           np.asarray(weights, np.float32), ages.astype(np.float32),
                           len(user_codes), len(item_codes))
    return events, list(item_codes)


def _catalogue_embeddings(tenant, item_keys: list) -> tuple[list, np.ndarray]:
    """`item_keys` (the items with interactions) followed by the tenant's other items, hidden
    ones too (serving filters them, so showing one again needs no training), and each item's
    embedding of its title and description as they are now: an edit counts at the next training."""
    texts = {pk: content.item_text(title, description) for pk, title, description in
             Item.objects.for_tenant(tenant).values_list("pk", "title", "description").iterator(chunk_size=5000)}
    known = set(item_keys)
    keys = [*item_keys, *(pk for pk in texts if pk not in known)]
    return keys, content.embed([texts.get(pk, "") for pk in keys])


def _finish(model: RecommendationModel, **fields) -> RecommendationModel:
    for name, value in fields.items():
        setattr(model, name, value)
    model.save(update_fields=[*fields])
    return model


def model_train(*, model_id) -> RecommendationModel:
    """Run one requested training (the worker's side); a redelivered task finds it done."""
    model = RecommendationModel.objects.select_related("tenant").get(pk=model_id)
    if model.status != Status.TRAINING:
        return model
    started = time.monotonic()
    if remote.enabled():
        return _train_remote(model, started)
    try:
        events, item_keys = _load_events(model.tenant)
        matrix = engine.user_item_matrix(events.users, events.items, events.weights, events.n_users, events.n_items)
        half_life = settings.RECOMMENDER_POPULARITY_HALF_LIFE_DAYS
        metrics = engine.evaluate(matrix, events, half_life_days=half_life)
        counts = {"interactions": len(events.users), "items": events.n_items, "users": events.n_users}
        if metrics is None:
            return _finish(model, status=Status.FAILED, metrics={}, trained_at=timezone.now(),
                           duration_ms=_elapsed(started), error="Not enough interactions to evaluate a model: "
                           "no user has interacted with two items.", **counts)
        if metrics["ndcg_at_10"] <= metrics["popularity_ndcg_at_10"]:
            return _finish(model, status=Status.FAILED, metrics=metrics, trained_at=timezone.now(),
                           duration_ms=_elapsed(started), error="Not promoted: it does not beat popularity "
                           "on the hold-out split.", **counts)
        similarity, algorithm = engine.fit_similarity(matrix)
        keys, embeddings = _catalogue_embeddings(model.tenant, item_keys)
        # Items without interactions get rows too: no neighbours and no popularity, but content.
        similarity.resize((len(keys), len(keys)))
        popularity = engine.popularity(events, half_life)
        vectors = engine.Vectors(
            item_keys=np.asarray([key.hex for key in keys], dtype="S32"),
            similarity=similarity,
            popularity=np.pad(popularity, (0, len(keys) - len(popularity))),
            embeddings=embeddings,
        )
        counts["items"] = len(keys)
        blob = vectors.dumps()
        with transaction.atomic():
            ModelArtifact.objects.update_or_create(model=model, defaults={"data": blob})
            return _finish(model, status=Status.READY, algorithm=algorithm, metrics=metrics,
                           size_bytes=len(blob), trained_at=timezone.now(), duration_ms=_elapsed(started),
                           **counts)
    except Exception as exc:
        logger.exception("recommendation training failed", extra={"model_id": str(model.pk)})
        return _finish(model, status=Status.FAILED, error=f"Training failed: {type(exc).__name__}.",
                       duration_ms=_elapsed(started))


def _train_remote(model: RecommendationModel, started: float) -> RecommendationModel:
    """ML_ENGINE_URL: the engine trains; this row records what it answered."""
    try:
        answer = remote.train(tenant=model.tenant)
    except remote.EngineUnavailable as exc:
        logger.warning("remote engine training failed", extra={"model_id": str(model.pk), "error": str(exc)})
        return _finish(model, status=Status.FAILED, algorithm=remote.ALGORITHM, trained_at=timezone.now(),
                       duration_ms=_elapsed(started), error=f"The remote engine {exc}.")
    metrics = answer.get("metrics") if isinstance(answer.get("metrics"), dict) else {}
    metrics = {name: value for name, value in metrics.items()
               if isinstance(name, str) and isinstance(value, int | float) and not isinstance(value, bool)}
    return _finish(model, status=Status.READY, algorithm=remote.ALGORITHM, metrics=metrics,
                   trained_at=timezone.now(), duration_ms=_elapsed(started))


def _elapsed(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def tenants_due_for_training():
    """Tenants with interactions received since their newest model was requested (or with none)."""
    from tenants.models import Tenant

    due = []
    # Tenants with a catalogue (an index-only scan of the items' unique key), then one indexed
    # EXISTS per tenant, rather than a DISTINCT over every interaction.
    tenant_ids = Item.objects.values_list("tenant_id", flat=True).distinct()
    for tenant in Tenant.objects.filter(pk__in=tenant_ids, status=Tenant.Status.ACTIVE):
        newest = RecommendationModel.objects.for_tenant(tenant).order_by("-version").first()
        if newest is not None and newest.status == Status.TRAINING:
            continue
        if newest is None or Interaction.objects.for_tenant(tenant).filter(received_at__gt=newest.created_at).exists():
            due.append(tenant)
    return due


def train_if_enough_new(tenant) -> RecommendationModel | None:
    """After an upload: request a training once `RECOMMENDER_RETRAIN_AFTER_INTERACTIONS` events
    arrived since the tenant's newest model was requested (0 turns this off). Two indexed
    queries, the count bounded by the threshold, so an upload never scans the tenant's history;
    a tenant already training is left alone (and the unique index would refuse a second one)."""
    threshold = settings.RECOMMENDER_RETRAIN_AFTER_INTERACTIONS
    if threshold <= 0:
        return None
    newest = (RecommendationModel.objects.for_tenant(tenant).order_by("-version")
              .values_list("status", "created_at").first())
    events = Interaction.objects.for_tenant(tenant)
    if newest is not None:
        if newest[0] == Status.TRAINING:
            return None
        events = events.filter(received_at__gt=newest[1])
    if events.values("pk")[:threshold].count() < threshold:
        return None
    try:
        return model_train_request(tenant=tenant)
    except TrainingInProgress:
        return None


def train_due_tenants() -> int:
    requested = 0
    for tenant in tenants_due_for_training():
        try:
            model_train_request(tenant=tenant)
            requested += 1
        except TrainingInProgress:
            continue
    return requested
