"""Deploy hosts reached over SSH, the tenant's deploy key, projects with their services, and
deployments (the history; each one is a run of the project's generated deploy cluster).

Validation of what reaches a remote command lives in `deployments.validation`; the services
call it before saving, the API serializers and the admin forms too.
"""
from django.db import models
from django.db.models import Q

from tenants.models import TenantOwnedModel, TenantOwnedNamedModel


class Host(TenantOwnedNamedModel):
    """A deploy target: `username@address:port`, its host key pinned (`host_key`, an OpenSSH
    public key line). With no pin a connection is refused, unless an operator set
    `trust_on_first_use` in the admin: then the first key seen becomes the pin."""

    address = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=22)
    username = models.CharField(max_length=32)
    host_key = models.TextField(blank=True)
    trust_on_first_use = models.BooleanField(
        default=False, help_text="Accept the key the host presents at the next connection and pin it. Admin only."
    )

    class Meta(TenantOwnedNamedModel.Meta):
        pass


class DeployKey(TenantOwnedModel):
    """The tenant's ed25519 key pair for its hosts; the private half is encrypted with the
    tenant secrets' vault (`orchestration.vault`, `SECRETS_ENCRYPTION_KEY`)."""

    public_key = models.TextField()  # "ssh-ed25519 AAAA… groundstation-<tenant>"
    fingerprint = models.CharField(max_length=100)  # SHA256:…
    private_key_encrypted = models.TextField(editable=False)
    updated_at = None  # generated once; a new pair is a new row

    class Meta(TenantOwnedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant"], name="deployments_deploykey_one_per_tenant")]

    def __str__(self) -> str:
        return self.fingerprint


class Project(TenantOwnedNamedModel):
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="projects")
    directory = models.CharField(max_length=1024)
    repository = models.CharField(max_length=2048, blank=True)
    branch = models.CharField(max_length=200, blank=True)
    services = models.JSONField(default=list, blank=True)
    deploy_steps = models.JSONField(null=True, blank=True)  # None: the default clone/pull + compose up
    enabled = models.BooleanField(default=True)
    timeout_seconds = models.PositiveIntegerField(default=900)
    # The desired configuration's digest (deployments.workflow.config_hash), kept with every
    # change, so reconcile compares it with the last good deploy's without recomputing.
    config_hash = models.CharField(max_length=64, editable=False)
    # The generated deploy cluster (orchestration); rewritten, as a new version, on every change.
    cluster = models.OneToOneField(
        "orchestration.Cluster", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta(TenantOwnedNamedModel.Meta):
        pass


class DeploymentStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = (DeploymentStatus.QUEUED, DeploymentStatus.RUNNING)


class Deployment(TenantOwnedModel):
    """One deploy of a project. While one runs, later requests fold into one follow-up: a
    `queued` deployment with no run yet, started when the current one ends."""

    class Trigger(models.TextChoices):
        API = "api"
        ADMIN = "admin"
        RECONCILE = "reconcile"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="deployments")
    status = models.CharField(max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.QUEUED)
    run = models.ForeignKey("orchestration.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    config_hash = models.CharField(max_length=64)  # of the configuration deployed (set when it starts)
    requested_by = models.CharField(max_length=255)  # who: an e-mail, "api key <prefix>" or "reconcile"
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.API)
    requests = models.PositiveIntegerField(default=1)  # requests folded into this deployment
    error = models.TextField(blank=True)
    incident_id = models.UUIDField(null=True, blank=True)  # the monitoring incident a timeout opened
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)  # set when it starts: started + timeout

    class Meta(TenantOwnedModel.Meta):
        indexes = [
            # History per project, newest first.
            models.Index(fields=["project", "-created_at"], name="deployments_history"),
            # The timeout sweep reads only active deployments with a deadline.
            models.Index(fields=["deadline_at"], condition=Q(status__in=["queued", "running"]),
                         name="deployments_active_deadline"),
        ]
        constraints = [
            # One deploy per project at a time, and at most one follow-up waiting behind it:
            # racing requests that both pass the row lock's check still cannot double either.
            models.UniqueConstraint(fields=["project"],
                                    condition=Q(status__in=["queued", "running"], run__isnull=False),
                                    name="deployments_one_running_per_project"),
            models.UniqueConstraint(fields=["project"], condition=Q(status="queued", run__isnull=True),
                                    name="deployments_one_follow_up_per_project"),
        ]

    def __str__(self) -> str:
        return f"deployment {self.id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES
