"""Tenant API keys, and the usage meter's raw calls and daily rollups."""

from django.conf import settings
from django.db import models

from core.credentials import CredentialModel
from tenants.models import Tenant, TenantOwnedModel, TenantOwnedQuerySet


def default_scopes() -> list[str]:
    return ["read"]


class ApiKey(CredentialModel, TenantOwnedModel):
    """A tenant's credential: the secret's handling from CredentialModel (which also gives the
    same id and created_at as the tenant base), the tenant and its creator from TenantOwnedModel."""

    PREFIX = "gsk"

    scopes = models.JSONField(default=default_scopes)
    rate_limit = models.CharField(max_length=40, blank=True, help_text='Optional, e.g. "100/m" or "10/s burst 20".')
    rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Its changes are stamped: rotated_at, revoked_at, last_used_at.
    updated_at = None

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="apikeys_key_tenant_recent")]


# Latency histogram bucket upper bounds (ms): ~25 % apart from 0.5 ms to ~80 s, so p50/p95 from
# merged rollups are within one bucket of the truth without keeping every duration forever.
LATENCY_BUCKETS_MS: tuple[float, ...] = tuple(round(0.5 * 1.25**i, 3) for i in range(54))


class ApiCall(models.Model):
    """One metered API request. Written in bulk by the flush task, never in the request path.

    `id` is minted by the gateway per request (not the caller's X-Request-ID), so replays of a
    buffered batch insert nothing twice. Foreign keys carry no database constraint: a call of a
    tenant deleted meanwhile must not make a whole batch fail.
    """

    id = models.UUIDField(primary_key=True, editable=False)
    request_id = models.CharField(max_length=128, blank=True)
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="+",
    )
    route = models.CharField(max_length=255)  # route pattern, e.g. /api/v1/api-keys/{id}
    method = models.CharField(max_length=10)
    status = models.PositiveSmallIntegerField()
    duration_ms = models.FloatField()
    created_at = models.DateTimeField(db_index=True)
    rolled_up = models.BooleanField(default=False)

    class Meta:
        verbose_name = "API call"
        ordering = ["-created_at"]
        indexes = [
            # analytics: a tenant's recent calls
            models.Index(fields=["tenant", "-created_at"], name="apikeys_call_tenant_recent"),
            # the rollup task claims only rows not yet counted
            models.Index(fields=["created_at"], condition=models.Q(rolled_up=False), name="apikeys_call_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.route} {self.status}"


class UsageRollup(models.Model):
    """Requests, errors and a latency histogram per tenant × day × route × key; kept forever."""

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="usage_rollups")
    day = models.DateField()
    route = models.CharField(max_length=255)
    # Empty string rather than NULL so the unique constraint also holds for user/JWT calls.
    api_key_id = models.CharField(max_length=36, blank=True, default="")
    requests = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)
    total_ms = models.FloatField(default=0)
    histogram = models.JSONField(default=list)  # counts per LATENCY_BUCKETS_MS (+ one overflow)

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-day", "route"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "day", "route", "api_key_id"], name="apikeys_rollup_unique")
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.day} {self.route}"


class PendingInvalidation(models.Model):
    """A cached snapshot that must be dropped but could not be (the cache store was down).

    Written in the transaction of the change that needed it (a revocation is never durable
    without its invalidation), and removed once the store has dropped the key: by the gateway
    of a process that saw the outage, before it trusts the store again, and by the
    `apikeys.invalidations_retry` beat task every few seconds.
    """

    cache_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.cache_key
