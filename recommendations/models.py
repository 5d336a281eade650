"""The recommender's data: a tenant's catalogue, its users' interactions and trained models.

Items are named by the tenant's own string id; users are only ever named (the platform keeps no
user rows for them). A trained model's vectors live in the database (`ModelArtifact`) so every
web process can load the newest ready version into memory without retraining.
"""
from django.db import models
from django.db.models import Q

from tenants.models import Tenant, TenantOwnedModel, TenantOwnedQuerySet

EXTERNAL_ID_MAX = 128
CATEGORY_MAX = 100


class Item(TenantOwnedModel):
    external_id = models.CharField(max_length=EXTERNAL_ID_MAX, help_text="The tenant's own id of the item.")
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    categories = models.JSONField(default=list, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    hidden = models.BooleanField(default=False, help_text="Hidden items are never recommended.")

    class Meta:
        ordering = ["external_id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "external_id"], name="recommendations_item_unique_id"),
        ]

    def __str__(self) -> str:
        return self.external_id


class CatalogueVersion(models.Model):
    """A counter every catalogue write moves, in its own transaction (`services`). Each web
    process keeps the served model's items (ids, titles, hidden, categories) in memory and reads
    this number with the user's history on every request (`serving.py`): when it moved, the
    process rebuilds its copy first, so a hide or a delete counts at once in every process."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, primary_key=True, related_name="+")
    version = models.BigIntegerField(default=0)

    objects = TenantOwnedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.tenant_id} catalogue v{self.version}"


class ItemCategory(models.Model):
    """One row per (item, category): the exact, portable `?category=` filter (JSON containment
    is not available on SQLite, and its LIKE ignores case)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="category_rows")
    name = models.CharField(max_length=CATEGORY_MAX)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "name"], name="recommendations_category_unique")]
        # The filter: items of one tenant in one category.
        indexes = [models.Index(fields=["tenant", "name"], name="recommendations_cat_lookup")]

    def __str__(self) -> str:
        return self.name


class InteractionType(models.TextChoices):
    VIEW = "view"
    CLICK = "click"
    LIKE = "like"
    ADD_TO_CART = "add_to_cart"
    PURCHASE = "purchase"
    RATING = "rating"


class Interaction(models.Model):
    """An append-only event (no updates, no owner): a bigint key and no timestamps beyond its own."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    user_id = models.CharField(max_length=EXTERNAL_ID_MAX, help_text="The tenant's own id of the user.")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="interactions")
    type = models.CharField(max_length=16, choices=InteractionType.choices)
    value = models.FloatField(null=True, blank=True)
    timestamp = models.DateTimeField()
    event_id = models.CharField(max_length=EXTERNAL_ID_MAX, null=True, blank=True,
                                help_text="The tenant's idempotency id: the same id is stored once.")
    received_at = models.DateTimeField()

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp"]
        constraints = [
            # ON CONFLICT DO NOTHING against this index makes a repeated event a no-op.
            models.UniqueConstraint(fields=["tenant", "event_id"], condition=Q(event_id__isnull=False),
                                    name="recommendations_interaction_unique_event"),
        ]
        indexes = [
            # A user's recent history, read on every recommendation request.
            models.Index(fields=["tenant", "user_id", "-timestamp"], name="recommendations_user_history"),
            # Training reads a tenant's events; the schedule asks for events newer than a model.
            models.Index(fields=["tenant", "received_at"], name="recommendations_tenant_recv"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.type} {self.item_id}"


class RecommendationModel(TenantOwnedModel):
    class Status(models.TextChoices):
        TRAINING = "training"
        READY = "ready"
        FAILED = "failed"

    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRAINING)
    algorithm = models.CharField(max_length=50, blank=True)
    interactions = models.PositiveIntegerField(default=0, help_text="Interactions trained on.")
    items = models.PositiveIntegerField(default=0, help_text="Items with vectors.")
    users = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0, help_text="Stored vectors, compressed.")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    trained_at = models.DateTimeField(null=True, blank=True)
    updated_at = None  # its life is created_at → trained_at; nothing else changes a model

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "version"], name="recommendations_model_unique_version"),
            # Two trainings of one tenant never run at once: the second insert fails.
            models.UniqueConstraint(fields=["tenant"], condition=Q(status="training"),
                                    name="recommendations_one_training"),
        ]
        indexes = [
            # The serving lookup on every request: the newest ready version of a tenant.
            models.Index(fields=["tenant", "status", "-version"], name="recommendations_model_serving"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} v{self.version}"


class ModelArtifact(models.Model):
    """The trained vectors of one model (a compressed numpy archive), kept apart from the model
    row so that lists of models never read them."""

    model = models.OneToOneField(RecommendationModel, on_delete=models.CASCADE, primary_key=True,
                                 related_name="artifact")
    data = models.BinaryField()

    def __str__(self) -> str:
        return f"vectors of {self.model_id}"
