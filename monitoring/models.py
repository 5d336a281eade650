"""Monitoring models: the fleet (nodes, quorum groups), its history, incidents and alerts.

The platform's own heartbeat lives here beside the fleet's.
"""
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from monitoring.check_config import (
    MAX_METHOD,
    MAX_METRIC_NAME,
    MAX_PATH,
    validate_method,
    validate_metrics,
    validate_optional_path,
    validate_params,
)
from tenants.models import Tenant, TenantOwnedModel, TenantOwnedNamedModel, TenantOwnedQuerySet


class Heartbeat(models.Model):
    """Last time a Celery worker ran a heartbeat task sent by `key` (beat, or a smoke test)."""

    key = models.CharField(max_length=100, unique=True)
    worker = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


class Status(models.TextChoices):
    UP = "up"
    DOWN = "down"
    DEGRADED = "degraded"
    UNKNOWN = "unknown"


# Statuses that count as "available" for quorum and uptime: a slow answer is still an answer.
AVAILABLE = (Status.UP, Status.DEGRADED)


def default_interval() -> int:
    return settings.MONITORING_DEFAULT_INTERVAL_SECONDS


MAX_DEFAULT_TIMEOUT_SECONDS = 10


def timeout_for(interval_seconds: int) -> int:
    """A node's default timeout: 10 s, but always shorter than its interval (half of it at most)."""
    return max(1, min(MAX_DEFAULT_TIMEOUT_SECONDS, interval_seconds // 2))


def default_timeout() -> int:
    return timeout_for(settings.MONITORING_DEFAULT_INTERVAL_SECONDS)


class NodeGroup(TenantOwnedNamedModel):
    """N-of-M quorum ("bridge"): up while at least `min_online` members are up."""

    description = models.CharField(max_length=500, blank=True)
    min_online = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNKNOWN)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    # Groups and nodes are fleet inventory, often seeded from a file; the audit log has who
    # changed them.
    created_by = None


class Node(TenantOwnedNamedModel):
    class CheckType(models.TextChoices):
        HTTP = "http"
        TCP = "tcp"
        JSONRPC = "jsonrpc"

    address = models.CharField(max_length=253, help_text="IP address or host name; no scheme, path or port.")
    port = models.PositiveIntegerField(default=80)
    pubkey = models.CharField(max_length=512, blank=True)
    # Exposed as `check` in the API; a model field cannot be called `check` (Model.check()).
    check_type = models.CharField(max_length=8, choices=CheckType.choices, default=CheckType.HTTP)
    tls = models.BooleanField(default=False, help_text="Use https for http checks.")
    path = models.CharField(max_length=500, default="/")
    expected_status = models.PositiveIntegerField(default=200)
    expected_body = models.CharField(max_length=200, blank=True, help_text="Substring the body must contain.")
    expected_json_field = models.CharField(max_length=200, blank=True, help_text="Dotted path, e.g. status.db")
    expected_json_value = models.CharField(max_length=200, blank=True, help_text="Empty: the field must exist.")
    # JSON-RPC 2.0 checks (POST to the http target): the call, and what its `result` must hold.
    rpc_method = models.CharField(max_length=MAX_METHOD, blank=True, validators=[validate_method],
                                  help_text="JSON-RPC method, e.g. getStatus.")
    rpc_params = models.JSONField(null=True, blank=True, validators=[validate_params],
                                  help_text="A list or an object; empty: the call carries no params.")
    expected_result = models.CharField(max_length=MAX_PATH, blank=True, validators=[validate_optional_path],
                                       help_text="Dotted path that must exist in the result; empty: any result.")
    expected_result_value = models.CharField(max_length=200, blank=True,
                                             help_text="Empty: the path must exist; else its value, as text.")
    # Numbers read from each successful http/jsonrpc answer: {"name": "dotted.path"} (see check_config).
    metrics = models.JSONField(default=dict, blank=True, validators=[validate_metrics],
                               help_text='{"name": "dotted.path"}, e.g. {"bnb": "networks.BNB Chain.wrapsToSign"}')
    # Each metric's latest recorded value ({"name": number}), written with the node's state.
    last_metrics = models.JSONField(default=dict, blank=True, editable=False)
    interval_seconds = models.PositiveIntegerField(default=default_interval)
    timeout_seconds = models.PositiveIntegerField(default=default_timeout)
    enabled = models.BooleanField(default=True)
    group = models.ForeignKey(NodeGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="nodes")
    tags = models.JSONField(default=list, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNKNOWN)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_latency_ms = models.FloatField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # The last check was refused by the outbound guard (status `unknown`, why in last_error).
    configuration_error = models.BooleanField(default=False, db_default=False)
    # Scheduling: the dispatcher claims rows whose next_check_at has passed by moving it one
    # interval ahead in the same conditional UPDATE and stamping its claim token.
    next_check_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    created_by = None  # as for groups

    class Meta(TenantOwnedNamedModel.Meta):
        indexes = [
            # The dispatcher's query: enabled rows whose next_check_at has passed.
            models.Index(fields=["enabled", "next_check_at"], name="monitoring_node_due"),
            models.Index(fields=["claim_token"], name="monitoring_node_claim"),
            models.Index(fields=["tenant", "status"], name="monitoring_node_status"),
        ]

    def clean(self) -> None:
        """What the admin form checks across fields (the API's serializer checks the same)."""
        errors = check_consistency(self.check_type, self.rpc_method, self.metrics)
        if errors:
            raise ValidationError(errors)

    @property
    def target(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        if self.check_type == self.CheckType.TCP:
            return f"{host}:{self.port}"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{self.path}"


def check_consistency(check_type: str, rpc_method: str, metrics) -> dict:
    """Field errors of a check's configuration as a whole (empty: consistent)."""
    errors = {}
    if check_type == Node.CheckType.JSONRPC and not rpc_method:
        errors["rpc_method"] = "A jsonrpc check needs a method."
    if check_type == Node.CheckType.TCP and metrics:
        errors["metrics"] = "Metrics are read from an answer: use an http or jsonrpc check."
    return errors


class Snapshot(models.Model):
    """One check result. High-volume, append-only, purged after the raw retention period;
    the internal integer key is never exposed (rows are addressed by node and time)."""

    id = models.BigAutoField(primary_key=True)
    # Indexed by `monitoring_snap_tenant_time` below (tenant first), not by a separate FK index.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    # Indexed by `monitoring_snap_node_time` (node first); a second node-only index would only
    # cost every insert.
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="snapshots", db_index=False)
    checked_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices)
    latency_ms = models.FloatField(null=True, blank=True)
    http_status = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    # Refused by the outbound guard: status `unknown`, left out of uptime, latency and incidents.
    # db_default: adding the column to a large table stays a metadata-only change on PostgreSQL.
    configuration_error = models.BooleanField(default=False, db_default=False)
    # The node's metrics read from this answer ({"name": number}); NULL when it declares none
    # or the check failed. Nullable: adding it is metadata-only on PostgreSQL.
    metrics = models.JSONField(null=True, blank=True)

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-checked_at"]
        indexes = [
            # History of one node, newest first; also serves the raw tail of uptime queries.
            models.Index(fields=["node", "-checked_at"], name="monitoring_snap_node_time"),
            # Rollups and retention scan by time alone.
            models.Index(fields=["checked_at"], name="monitoring_snap_time"),
            # The raw tail of a tenant's uptime query: a range on time within one tenant. With
            # only a tenant index the database reads every raw row of the tenant (14 days'
            # retention: ~20 million rows for 1,000 nodes) to find the last hour.
            models.Index(fields=["tenant", "checked_at"], name="monitoring_snap_tenant_time"),
        ]

    def __str__(self) -> str:
        return f"{self.node_id} {self.status} @ {self.checked_at:%Y-%m-%d %H:%M:%S}"


class SnapshotRollup(models.Model):
    """Aggregated snapshots of one node over one hour, day or (ISO, Monday-based) week; kept
    indefinitely. The current day's and week's rows are partial: they cover their bucket up to
    the level's watermark (see rollups.py) and are rewritten as hours complete.

    `lat_b00` … `lat_b18` count successful checks per latency bucket (upper bounds in
    `LATENCY_BUCKETS_MS`, the last open-ended). As plain columns they are summed by the
    database, so uptime and percentiles over 30 days aggregate in SQL, never in Python.
    """

    class Resolution(models.TextChoices):
        HOUR = "hour"
        DAY = "day"
        WEEK = "week"

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="rollups")
    resolution = models.CharField(max_length=4, choices=Resolution.choices)
    bucket_start = models.DateTimeField()
    checks = models.PositiveIntegerField(default=0)
    up = models.PositiveIntegerField(default=0)
    degraded = models.PositiveIntegerField(default=0)
    down = models.PositiveIntegerField(default=0)
    latency_sum_ms = models.FloatField(default=0)
    lat_b00 = models.PositiveIntegerField(default=0)
    lat_b01 = models.PositiveIntegerField(default=0)
    lat_b02 = models.PositiveIntegerField(default=0)
    lat_b03 = models.PositiveIntegerField(default=0)
    lat_b04 = models.PositiveIntegerField(default=0)
    lat_b05 = models.PositiveIntegerField(default=0)
    lat_b06 = models.PositiveIntegerField(default=0)
    lat_b07 = models.PositiveIntegerField(default=0)
    lat_b08 = models.PositiveIntegerField(default=0)
    lat_b09 = models.PositiveIntegerField(default=0)
    lat_b10 = models.PositiveIntegerField(default=0)
    lat_b11 = models.PositiveIntegerField(default=0)
    lat_b12 = models.PositiveIntegerField(default=0)
    lat_b13 = models.PositiveIntegerField(default=0)
    lat_b14 = models.PositiveIntegerField(default=0)
    lat_b15 = models.PositiveIntegerField(default=0)
    lat_b16 = models.PositiveIntegerField(default=0)
    lat_b17 = models.PositiveIntegerField(default=0)
    lat_b18 = models.PositiveIntegerField(default=0)

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-bucket_start"]
        constraints = [
            models.UniqueConstraint(fields=["node", "resolution", "bucket_start"], name="monitoring_rollup_unique")
        ]
        indexes = [
            # Uptime over a window: one tenant's rows of one resolution in a time range.
            models.Index(fields=["tenant", "resolution", "bucket_start"], name="monitoring_rollup_window"),
        ]

    def __str__(self) -> str:
        return f"{self.node_id} {self.resolution} {self.bucket_start:%Y-%m-%d %H:%M}"


class MetricRollup(models.Model):
    """One metric of one node over one hour, day or week: written beside the SnapshotRollup rows
    of the same bucket, in the same transaction, under the same watermarks (see rollups.py)."""

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # Indexed by the unique constraint (node first).
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="metric_rollups", db_index=False)
    name = models.CharField(max_length=MAX_METRIC_NAME)
    resolution = models.CharField(max_length=4, choices=SnapshotRollup.Resolution.choices)
    bucket_start = models.DateTimeField()
    samples = models.PositiveIntegerField()
    total = models.FloatField()  # the sum of the samples: avg = total / samples, summed over buckets
    minimum = models.FloatField()
    maximum = models.FloatField()
    last = models.FloatField()  # the bucket's latest sample

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-bucket_start"]
        constraints = [
            models.UniqueConstraint(fields=["node", "name", "resolution", "bucket_start"],
                                    name="monitoring_metric_rollup_unique")
        ]
        indexes = [
            # Statistics of one metric over a window: a tenant's rows of one name and resolution.
            models.Index(fields=["tenant", "name", "resolution", "bucket_start"], name="monitoring_metric_window"),
            # Re-rolling a bucket deletes its rows by resolution and start.
            models.Index(fields=["resolution", "bucket_start"], name="monitoring_metric_bucket"),
        ]

    def __str__(self) -> str:
        return f"{self.node_id} {self.name} {self.resolution} {self.bucket_start:%Y-%m-%d %H:%M}"


class RollupWatermark(models.Model):
    """How far raw snapshots have been rolled up (exclusive), per resolution."""

    resolution = models.CharField(max_length=4, primary_key=True, choices=SnapshotRollup.Resolution.choices)
    until = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.resolution} until {self.until:%Y-%m-%d %H:%M}"


class MaintenanceWindow(TenantOwnedModel):
    """While active, failures of the covered nodes/groups open no incident and send no alert.

    Covers one node, one group (and its members), or — with neither set — the whole tenant.
    """

    name = models.CharField(max_length=100)  # a label; two windows may share one
    node = models.ForeignKey(Node, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(NodeGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # Columns it never had; the audit log records who scheduled or changed a window.
    created_by = None
    updated_at = None

    class Meta(TenantOwnedModel.Meta):
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["tenant", "ends_at"], name="monitoring_maint_active")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """What the admin form checks (the API's serializer checks the same)."""
        errors = {}
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = "must be after starts_at"
        for name in ("node", "group"):
            target = getattr(self, name)
            if target is not None and self.tenant_id and target.tenant_id != self.tenant_id:
                errors[name] = f"that {name} belongs to another tenant"
        if errors:
            raise ValidationError(errors)


class Incident(TenantOwnedModel):
    """A node or a group went down; resolved when it comes back."""

    class State(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    node = models.ForeignKey(Node, null=True, blank=True, on_delete=models.CASCADE, related_name="incidents")
    group = models.ForeignKey(NodeGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="incidents")
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    title = models.CharField(max_length=300)
    cause = models.CharField(max_length=500, blank=True)
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_notified_at = models.DateTimeField(null=True, blank=True)
    # Opened by the checks, not by a person, at `opened_at` (when the failure began, which may
    # precede the row); every later change has its own stamp.
    created_by = None
    created_at = None
    updated_at = None

    class Meta(TenantOwnedModel.Meta):
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["tenant", "state", "-opened_at"], name="monitoring_incident_state")]
        constraints = [
            # At most one open incident per node and per group: transitions cannot double-open.
            models.UniqueConstraint(
                fields=["node"],
                condition=models.Q(state="open", node__isnull=False),
                name="monitoring_incident_node_open",
            ),
            models.UniqueConstraint(
                fields=["group"],
                condition=models.Q(state="open", group__isnull=False),
                name="monitoring_incident_group_open",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def subject(self) -> str:
        return "group" if self.group_id else "node" if self.node_id else "other"


class AlertChannel(TenantOwnedModel):
    class Kind(models.TextChoices):
        WEBHOOK = "webhook"
        EMAIL = "email"

    name = models.CharField(max_length=100)  # a label, not unique: two hooks may share one
    kind = models.CharField(max_length=16, choices=Kind.choices)
    url = models.URLField(max_length=500, blank=True)
    email = models.EmailField(blank=True)
    enabled = models.BooleanField(default=True)
    remind_every_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Repeat the alert while an incident stays open; empty: never."
    )
    # The signing secret is derived from the server's pepper and this salt (see alerts.py), so
    # no usable secret is stored; rotating the salt rotates the secret.
    signing_salt = models.CharField(max_length=64, editable=False)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AlertDelivery(TenantOwnedModel):
    """One notification of one channel about one incident event, with every attempt."""

    class Event(models.TextChoices):
        OPENED = "incident.opened"
        RESOLVED = "incident.resolved"
        REMINDER = "incident.reminder"

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32, choices=Event.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.JSONField(default=list, help_text="[{at, ok, status, error, elapsed_ms}]")
    delivered_at = models.DateTimeField(null=True, blank=True)
    # While pending: when the next attempt may start. An attempt claims the delivery by moving
    # this to the end of its lease (a conditional UPDATE), so two senders never both send; a
    # claim whose outcome was never recorded expires and the periodic re-send picks it up.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Written by the alerting, never by a person; its progress is in state, attempts and
    # delivered_at.
    created_by = None
    updated_at = None

    class Meta(TenantOwnedModel.Meta):
        verbose_name_plural = "alert deliveries"
        indexes = [
            models.Index(fields=["channel", "-created_at"], name="monitoring_delivery_channel"),
            # The re-send sweep: pending deliveries whose attempt is due (a small set).
            models.Index(
                fields=["next_attempt_at"], name="monitoring_delivery_due", condition=models.Q(state="pending")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} ({self.state})"  # the channel's id says nothing to an operator


class LiveEvent(models.Model):
    """Outbox of live events when the channel layer is per process (embedded default): workers
    and web processes append here, and every web process with WebSocket clients reads new rows
    and fans them out to its own clients (monitoring/live.py). Rows live about a minute."""

    id = models.BigAutoField(primary_key=True)
    tenant_id = models.UUIDField()
    event = models.CharField(max_length=64)
    data = models.JSONField()
    at = models.DateTimeField(db_index=True)  # the prune's range

    def __str__(self) -> str:
        return f"{self.event} #{self.id}"


class MetricCounter(models.Model):
    """A platform-wide Prometheus counter: every process adds to the same row (monitoring/metrics.py)."""

    name = models.CharField(max_length=100, primary_key=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} = {self.value}"
