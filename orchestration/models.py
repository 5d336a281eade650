"""Orchestration: clusters (versioned YAML DAGs), runs and their steps, executions, logs,
encrypted tenant secrets, agents and agent tasks, idempotency records.

A one-satellite *execution* is a `Run` of kind `execution` with a single step, so clusters and
executions share one engine; `Execution` is a proxy that shows only those.
"""

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from tenants.models import TenantOwnedModel, TenantOwnedNamedModel, TenantOwnedQuerySet

SECRET_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"  # noqa: S105 - a pattern, not a secret


class Secret(TenantOwnedNamedModel):
    """A tenant secret for `${{ secrets.NAME }}`; only the Fernet ciphertext is stored."""

    # Shorter than other names: it is an identifier in templates.
    name = models.CharField(max_length=64, validators=[RegexValidator(SECRET_NAME_RE)])
    ciphertext = models.TextField(editable=False)


class Cluster(TenantOwnedNamedModel):
    """The current definition of a workflow; every change is also kept as a `ClusterVersion`."""

    description = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    definition = models.TextField()
    spec = models.JSONField(default=dict, editable=False)  # the validated, normalised definition
    schedule = models.CharField(max_length=120, blank=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class ClusterVersion(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    definition = models.TextField()
    spec = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["cluster", "version"], name="orchestration_version_unique")]

    def __str__(self) -> str:
        return f"{self.cluster.name} v{self.version}"


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


class StepStatus(models.TextChoices):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


TERMINAL_RUN_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMED_OUT})
TERMINAL_STEP_STATUSES = frozenset(
    {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED, StepStatus.TIMED_OUT}
)


class RunQuerySet(TenantOwnedQuerySet):
    def active(self):
        return self.exclude(status__in=TERMINAL_RUN_STATUSES)


class Run(TenantOwnedModel):
    class Kind(models.TextChoices):
        CLUSTER = "cluster"
        EXECUTION = "execution"

    class Trigger(models.TextChoices):
        API = "api"
        SCHEDULE = "schedule"
        ADMIN = "admin"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CLUSTER)
    cluster = models.ForeignKey(Cluster, null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    cluster_version = models.ForeignKey(
        ClusterVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="runs"
    )
    version = models.PositiveIntegerField(null=True, blank=True)
    satellite = models.CharField(max_length=100, blank=True)  # executions only
    timeout_seconds = models.PositiveIntegerField(null=True, blank=True)  # executions only
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.API)
    inputs = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Its progress is in status, started_at and finished_at; the engine writes those with
    # update_fields, and a column rewritten on each transition would only cost.
    updated_at = None

    objects = RunQuerySet.as_manager()

    class Meta(TenantOwnedModel.Meta):
        indexes = [
            # Run lists per tenant, newest first.
            models.Index(fields=["tenant", "kind", "-created_at"], name="orch_run_tenant_kind_created"),
            # Concurrency: active runs of a cluster, and the oldest queued one to start next.
            models.Index(fields=["cluster", "status", "created_at"], name="orch_run_cluster_status"),
            # The reaper's repair looks at running runs only.
            models.Index(fields=["created_at"], condition=models.Q(status="running"), name="orch_run_running"),
        ]

    def __str__(self) -> str:
        return f"run {self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES


class ExecutionManager(models.Manager.from_queryset(RunQuerySet)):
    def get_queryset(self):
        return super().get_queryset().filter(kind=Run.Kind.EXECUTION)


class Execution(Run):
    """One satellite executed on its own (a one-step run), as the admin and the API show it."""

    objects = ExecutionManager()

    class Meta:
        proxy = True
        ordering = ["-created_at"]


class StepRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: the (run, step_id) unique constraint serves lookups by run, and every
    # index is written again on each step transition.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps", db_index=False)
    step_id = models.CharField(max_length=64)
    satellite = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    is_handler = models.BooleanField(default=False)  # an `on_failure` step
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Dependency counters, maintained under the run's row lock as upstream steps end.
    remaining_deps = models.PositiveIntegerField(default=0)
    failed_deps = models.PositiveIntegerField(default=0)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    # The Celery task id of the current attempt: the claim token that makes delivery idempotent.
    task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    # Deliveries of the current attempt of a pure (unclaimed) step that reached a worker again
    # after its worker was lost; past ORCHESTRATION_MAX_REDELIVERIES the step fails.
    redeliveries = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["run", "step_id"], name="orchestration_step_unique")]
        indexes = [
            # The reaper's poll: running steps whose deadline has passed. Partial, so the
            # transitions of all other steps never touch it.
            models.Index(
                fields=["deadline_at"], condition=models.Q(status="running"), name="orch_step_running_deadline"
            ),
            # The reaper's re-send: queued steps long past due.
            models.Index(
                fields=["queued_at"], condition=models.Q(status="queued"), name="orch_step_queued_due"
            ),
            # The reaper's repair looks for pending steps that are ready but were not released.
            # The predicate names `status` only: a column in it counts as indexed, and the
            # count-down that changes `remaining_deps` on every step completion must stay a HOT
            # update (no index writes).
            models.Index(fields=["run"], condition=models.Q(status="pending"), name="orch_step_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.step_id} ({self.status})"

    @property
    def duration_ms(self) -> int | None:
        if self.started_at and self.finished_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None


class StepLog(models.Model):
    class Level(models.TextChoices):
        INFO = "info"
        WARNING = "warning"
        ERROR = "error"

    id = models.BigAutoField(primary_key=True)
    # No database-level constraint: the per-line check locks the run row (a multixact when
    # workers share it), a fifth of the database's work per step. Lines are append-only, written
    # only by the engine for a run it just loaded, and read only through their run; deleting a
    # run deletes its lines (ORM cascade) — a line a worker writes while its run is being
    # deleted can outlive it, unseen. No index of its own either: see (run, id) below.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="logs", db_index=False, db_constraint=False)
    step_id = models.CharField(max_length=64)
    attempt = models.PositiveIntegerField(default=0)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        # Following a run's logs: `run = X and id > last_seen order by id`.
        indexes = [models.Index(fields=["run", "id"], name="orch_log_run_id")]

    def __str__(self) -> str:
        return f"[{self.step_id}#{self.attempt}] {self.message[:60]}"


class Agent(TenantOwnedNamedModel):
    description = models.TextField(blank=True)
    prompt = models.TextField(help_text="Template; {{ input }}, {{ title }}, {{ description }} and input keys.")
    model = models.CharField(max_length=100, default="gpt-4o-mini")
    is_active = models.BooleanField(default=True)


class AgentTask(TenantOwnedModel):
    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        COMPLETED = "completed"
        FAILED = "failed"

    agent = models.ForeignKey(Agent, null=True, on_delete=models.SET_NULL, related_name="tasks")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    input = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    execution = models.OneToOneField(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="agent_task")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        indexes = [models.Index(fields=["tenant", "-created_at"], name="orch_task_tenant_created")]

    def __str__(self) -> str:
        return self.title


class IdempotencyRecord(TenantOwnedModel):
    """The first response to (tenant, Idempotency-Key, endpoint), replayed for 24 hours.

    The unique constraint is what makes concurrent first requests safe: the loser's insert
    fails, its transaction (and the run it created) rolls back, and it replays the winner's.
    """

    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)  # expiry sweep
    # A stored response, written once by whichever caller (person or key) sent the request.
    created_by = None
    updated_at = None

    class Meta:  # not the base's: read only through the unique key, never listed
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key", "endpoint"], name="orchestration_idempotency_unique")
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key}"
