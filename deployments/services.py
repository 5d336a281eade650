"""Writes of the deployments app: the deploy key, hosts, projects (and their generated deploy
clusters), deployments and their coalescing, following runs, timeouts, reconcile.

Coalescing (itsUP's reconcile semantics): one deploy per project at a time. A request while one
is queued or running folds into the one follow-up (a `queued` deployment without a run), which
every such request answers; when the current deploy ends, the follow-up starts with the
configuration of that moment. The project's row lock serialises the decision, and two partial
unique constraints (one running, one follow-up per project) make a double impossible anyway.
"""
from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from core.api.exceptions import Conflict
from core.audit import audit_record
from deployments import keys, remote, workflow
from deployments.models import ACTIVE_STATUSES, DeployKey, Deployment, DeploymentStatus, Host, Project
from monitoring import services as monitoring_services
from orchestration import services as orchestration_services
from orchestration import vault
from orchestration.engine import transactions
from orchestration.models import Run, RunStatus

RUN_TO_DEPLOYMENT = {
    RunStatus.QUEUED: DeploymentStatus.QUEUED,
    RunStatus.RUNNING: DeploymentStatus.RUNNING,
    RunStatus.SUCCEEDED: DeploymentStatus.SUCCEEDED,
    RunStatus.FAILED: DeploymentStatus.FAILED,
    RunStatus.TIMED_OUT: DeploymentStatus.FAILED,
    RunStatus.CANCELLED: DeploymentStatus.CANCELLED,
}
HOST_FIELDS = ("name", "address", "port", "username", "host_key")
PROJECT_FIELDS = ("name", "host", "directory", "repository", "branch", "services", "deploy_steps", "enabled",
                  "timeout_seconds")


class DeployKeyUnreadable(Exception):
    """The deploy key does not decrypt under the configured SECRETS_ENCRYPTION_KEY."""


def _user(actor):
    return actor if getattr(actor, "pk", None) else None


def actor_label(actor) -> str:
    if getattr(actor, "pk", None):
        return actor.email
    if getattr(actor, "key_id", None):
        return f"api key {actor.key_id}"
    return "system"


# --- Deploy key -----------------------------------------------------------------------------------
def deploy_key_get_or_create(*, tenant) -> DeployKey:
    """The tenant's key pair, generated on first use (a racing first use keeps one pair)."""
    existing = DeployKey.objects.filter(tenant=tenant).first()
    if existing is not None:
        return existing
    public, fingerprint, encrypted = keys.generate(f"groundstation-{tenant.slug}")
    try:
        with transaction.atomic():
            key = DeployKey.objects.create(tenant=tenant, public_key=public, fingerprint=fingerprint,
                                           private_key_encrypted=encrypted)
            audit_record(action="deploy_key.create", target=key, tenant=tenant, changes={"fingerprint": fingerprint})
            return key
    except IntegrityError:
        return DeployKey.objects.get(tenant=tenant)


def host_target(*, host: Host) -> remote.SSHTarget:
    key = deploy_key_get_or_create(tenant=host.tenant)
    try:
        private = keys.private_key(key.private_key_encrypted)
    except vault.SecretUnreadable as exc:
        raise DeployKeyUnreadable(
            "the tenant's deploy key cannot be decrypted (SECRETS_ENCRYPTION_KEY changed?)") from exc
    return remote.SSHTarget(address=host.address, port=host.port, username=host.username,
                            private_key_openssh=private, host_key=host.host_key,
                            trust_on_first_use=host.trust_on_first_use and not host.host_key)


def host_pin_first_key(*, target: remote.SSHTarget, host_name: str, tenant_id, seen: str) -> None:
    """After a trust-on-first-use connection, the key the host showed becomes its pin (once)."""
    if not (target.trust_on_first_use and not target.host_key and seen):
        return
    with transaction.atomic():
        host = Host.objects.select_for_update().filter(tenant_id=tenant_id, name=host_name, host_key="").first()
        if host is None:
            return
        host.host_key, host.trust_on_first_use = seen, False
        host.save(update_fields=["host_key", "trust_on_first_use", "updated_at"])
        audit_record(action="host.pin_first_key", target=host, tenant=host.tenant, changes={"host_key": seen})
        _projects_regenerate(host=host, actor=None)


# --- Hosts ----------------------------------------------------------------------------------------
def _unique(model, *, tenant, name: str, exclude=None) -> None:
    rows = model.objects.filter(tenant=tenant, name=name)
    if exclude is not None:
        rows = rows.exclude(pk=exclude.pk)
    if rows.exists():
        raise Conflict(f"A {model._meta.verbose_name} named {name!r} already exists.")


@transaction.atomic
def host_create(*, tenant, actor=None, **fields) -> Host:
    _unique(Host, tenant=tenant, name=fields["name"])
    deploy_key_get_or_create(tenant=tenant)
    try:
        with transaction.atomic():  # a racing create of the same name meets the unique constraint
            host = Host.objects.create(tenant=tenant, created_by=_user(actor), **fields)
    except IntegrityError:
        raise Conflict(f"A host named {fields['name']!r} already exists.") from None
    audit_record(action="host.create", target=host, actor=actor, tenant=tenant,
                 changes={field: getattr(host, field) for field in HOST_FIELDS})
    return host


@transaction.atomic
def host_update(*, host: Host, actor=None, **fields) -> Host:
    host = Host.objects.select_for_update().get(pk=host.pk)
    if "name" in fields:
        _unique(Host, tenant=host.tenant, name=fields["name"], exclude=host)
    changes = {k: [getattr(host, k), v] for k, v in fields.items() if getattr(host, k) != v}
    for field, value in fields.items():
        setattr(host, field, value)
    try:
        with transaction.atomic():
            host.save()
    except IntegrityError:
        raise Conflict(f"A host named {host.name!r} already exists.") from None
    if changes:
        audit_record(action="host.update", target=host, actor=actor, tenant=host.tenant, changes=changes)
        _projects_regenerate(host=host, actor=actor)
    return host


@transaction.atomic
def host_delete(*, host: Host, actor=None) -> None:
    in_use = Conflict("Projects still deploy to this host; move or delete them first.")
    if Project.objects.filter(host=host).exists():
        raise in_use
    audit_record(action="host.delete", target=host, actor=actor, tenant=host.tenant, changes={"name": host.name})
    try:
        with transaction.atomic():
            host.delete()
    except ProtectedError:  # a project named it meanwhile
        raise in_use from None


def _projects_regenerate(*, host: Host, actor) -> None:
    """A host's address, key or name is part of its projects' configuration and clusters."""
    for project in Project.objects.select_for_update().filter(host=host).order_by("pk"):
        project.host = host
        _sync(project, actor=actor)


# --- Projects -------------------------------------------------------------------------------------
def _sync(project: Project, *, actor) -> None:
    """Recompute the config hash and write the deploy cluster (a new version when it changed)."""
    project.config_hash = workflow.config_hash(project)
    definition = workflow.definition(project)
    cluster = project.cluster
    if cluster is None:
        try:
            cluster = orchestration_services.cluster_create(tenant=project.tenant, definition=definition, actor=actor)
        except Conflict as exc:
            raise Conflict(f"A cluster named {workflow.cluster_name(project)!r} exists already; rename it or the "
                           "project.") from exc
        project.cluster = cluster
    elif cluster.definition != definition:
        orchestration_services.cluster_update(cluster=cluster, definition=definition, actor=actor)
    try:
        with transaction.atomic():  # a racing create or rename to the same name meets the constraint
            project.save()
    except IntegrityError:
        raise Conflict(f"A project named {project.name!r} already exists.") from None


@transaction.atomic
def project_create(*, tenant, actor=None, **fields) -> Project:
    _unique(Project, tenant=tenant, name=fields["name"])
    fields.setdefault("timeout_seconds", workflow.default_timeout_seconds())
    project = Project(tenant=tenant, created_by=_user(actor), **fields)
    _sync(project, actor=actor)
    audit_record(action="project.create", target=project, actor=actor, tenant=tenant,
                 changes={**_summary(project), "config_hash": project.config_hash})
    return project


def _summary(project: Project) -> dict:
    return {field: (project.host.name if field == "host" else getattr(project, field)) for field in PROJECT_FIELDS}


@transaction.atomic
def project_update(*, project: Project, actor=None, **fields) -> Project:
    project = Project.objects.select_for_update(of=("self",)).select_related("host", "cluster").get(pk=project.pk)
    if "name" in fields:
        _unique(Project, tenant=project.tenant, name=fields["name"], exclude=project)
    before = _summary(project)
    for field, value in fields.items():
        setattr(project, field, value)
    _sync(project, actor=actor)
    after = _summary(project)
    changes = {k: [v, after[k]] for k, v in before.items() if v != after[k]}
    if changes:
        audit_record(action="project.update", target=project, actor=actor, tenant=project.tenant,
                     changes={**changes, "config_hash": project.config_hash})
    return project


@transaction.atomic
def project_delete(*, project: Project, actor=None) -> None:
    """Cancels its deploy under way, deletes its cluster (and runs) and its history."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    Deployment.objects.filter(project=project, status=DeploymentStatus.QUEUED, run__isnull=True).update(
        status=DeploymentStatus.CANCELLED, finished_at=timezone.now(), error="the project was deleted")
    audit_record(action="project.delete", target=project, actor=actor, tenant=project.tenant,
                 changes={"name": project.name, "config_hash": project.config_hash})
    if project.cluster_id:
        orchestration_services.cluster_delete(cluster=project.cluster, actor=actor)
    project.delete()


# --- Deployments ----------------------------------------------------------------------------------
@transaction.atomic
def deployment_request(*, project: Project, actor=None, trigger: str = Deployment.Trigger.API) -> Deployment:
    """Deploy now, or fold into the project's one follow-up while a deploy is under way."""
    project = Project.objects.select_for_update(of=("self",)).select_related("cluster", "host").get(pk=project.pk)
    active = list(Deployment.objects.filter(project=project, status__in=ACTIVE_STATUSES))
    follow_up = next((d for d in active if d.run_id is None), None)
    if follow_up is not None:  # join the waiting follow-up
        Deployment.objects.filter(pk=follow_up.pk).update(requests=follow_up.requests + 1)
        follow_up.requests += 1
        deployment = follow_up
    else:
        deployment = Deployment(tenant_id=project.tenant_id, project=project, config_hash=project.config_hash,
                                requested_by=actor_label(actor), created_by=_user(actor), trigger=trigger)
        if active:  # one is under way: this becomes the follow-up
            deployment.save()
        else:
            _start(deployment, project, actor=actor)
    audit_record(action="project.deploy", target=project, actor=actor, tenant=project.tenant,
                 changes={"deployment": str(deployment.pk), "config_hash": project.config_hash,
                          "follow_up": bool(active), "trigger": trigger})
    return deployment


def _start(deployment: Deployment, project: Project, *, actor) -> None:
    """Trigger the run of the project's deploy cluster; the deployment follows it from there."""
    stamp = timezone.now()
    deployment.config_hash = project.config_hash
    deployment.started_at = stamp
    deployment.deadline_at = stamp + timedelta(seconds=project.timeout_seconds)
    deployment.save()
    if project.cluster_id is None:  # someone deleted the generated cluster: write it again
        _sync(project, actor=actor)
    trigger = Run.Trigger.ADMIN if deployment.trigger == Deployment.Trigger.ADMIN else Run.Trigger.API
    run = orchestration_services.run_trigger(cluster=project.cluster, inputs={}, actor=actor, trigger=trigger)
    # The run may have started (and reported `running`) already; take its status as it is now.
    Deployment.objects.filter(pk=deployment.pk).update(run=run, status=RUN_TO_DEPLOYMENT[run.status])
    deployment.run, deployment.status = run, RUN_TO_DEPLOYMENT[run.status]


def deployment_follow_run(*, run: Run) -> None:
    """The engine reported a run's status (in its transaction): move the deployment along; when
    it ended, start the project's follow-up. Runs of other clusters cost one indexed lookup."""
    if run.cluster_id is None:
        return  # a single-satellite execution is never a deploy
    deployment = (Deployment.objects.select_for_update(of=("self",)).select_related("project")
                  .filter(run_id=run.pk, status__in=ACTIVE_STATUSES).first())
    if deployment is None:
        return
    status = RUN_TO_DEPLOYMENT[run.status]
    fields = {"status": status}
    if status not in ACTIVE_STATUSES:
        fields.update(finished_at=run.finished_at or timezone.now(), error=run.error)
    Deployment.objects.filter(pk=deployment.pk).update(**fields)
    if status in ACTIVE_STATUSES:
        return
    if run.status == RunStatus.TIMED_OUT:
        _open_incident(deployment, cause=run.error or "a deploy step ran past its timeout")
    elif run.status == RunStatus.SUCCEEDED:
        _resolve_incidents(deployment.project)
    follow_up_start(project=deployment.project)


def deployments_follow_ended() -> int:
    """Active deployments whose run has ended (a receiver that failed, a run deleted): follow it."""
    ended = (Deployment.objects.filter(status__in=ACTIVE_STATUSES, run__isnull=False)
             .exclude(run__status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).values_list("run_id", flat=True)[:500])
    count = 0
    for run_id in list(ended):
        with transaction.atomic():
            run = transactions.lock_run(run_id)
            if run is not None:
                deployment_follow_run(run=run)
                count += 1
    return count


def follow_up_start(*, project: Project) -> Deployment | None:
    project = Project.objects.select_for_update(of=("self",)).select_related("cluster").get(pk=project.pk)
    if Deployment.objects.filter(project=project, status__in=ACTIVE_STATUSES, run__isnull=False).exists():
        return None
    follow_up = Deployment.objects.filter(project=project, status=DeploymentStatus.QUEUED, run__isnull=True).first()
    if follow_up is None:
        return None
    _start(follow_up, project, actor=follow_up.created_by)
    return follow_up


def _open_incident(deployment: Deployment, *, cause: str) -> None:
    incident = monitoring_services.incident_open_for(
        tenant_id=deployment.tenant_id, title=f"Deploy of {deployment.project.name} timed out", cause=cause)
    Deployment.objects.filter(pk=deployment.pk).update(incident_id=incident.pk)


def _resolve_incidents(project: Project) -> None:
    """A good deploy resolves the incidents of the project's timed-out ones."""
    for incident_id in Deployment.objects.filter(project=project, incident_id__isnull=False).values_list(
            "incident_id", flat=True).order_by("-created_at")[:20]:
        monitoring_services.incident_resolve_for(incident_id=incident_id)


def deployments_expire(*, now=None) -> int:
    """Deploys past their deadline fail (their run is cancelled) and open an incident each.

    Locks in the engine's order — the run, then the deployment, then the project — since
    cancelling the run reports to `deployment_follow_run` (which also starts the follow-up)."""
    now = now or timezone.now()
    expired = 0
    due = Deployment.objects.filter(status__in=ACTIVE_STATUSES, deadline_at__lt=now)
    for pk, run_id in list(due.values_list("pk", "run_id")[:500]):
        with transaction.atomic():
            expected = list(ACTIVE_STATUSES)
            if run_id is not None and Run.objects.filter(pk=run_id).active().exists():
                try:
                    orchestration_services.run_cancel(run=Run(pk=run_id))
                    expected.append(DeploymentStatus.CANCELLED)  # what following the cancel made it
                except Conflict:
                    pass  # the run ended meanwhile, and the deployment with it
            deployment = (Deployment.objects.select_for_update(of=("self",)).select_related("project")
                          .filter(pk=pk, status__in=expected).first())
            if deployment is None:
                continue
            seconds = deployment.project.timeout_seconds
            Deployment.objects.filter(pk=pk).update(status=DeploymentStatus.FAILED, finished_at=now,
                                                    error=f"the deploy ran past its timeout of {seconds}s")
            _open_incident(deployment, cause=f"the deploy ran past its timeout of {seconds}s")
            follow_up_start(project=deployment.project)
            expired += 1
    return expired


# --- Reconcile ------------------------------------------------------------------------------------
@transaction.atomic
def reconcile(*, tenant, actor=None) -> dict:
    """Deploy every enabled project whose configuration differs from its last good deploy's (and
    from the one under way). The tenant's projects are locked in order: one reconcile at a time."""
    projects = list(Project.objects.select_for_update(of=("self",)).filter(tenant=tenant)
                    .select_related("host", "cluster").order_by("pk"))
    started, unchanged = [], []
    for project in projects:
        if not project.enabled:
            continue
        good = (Deployment.objects.filter(project=project, status=DeploymentStatus.SUCCEEDED)
                .order_by("-finished_at").values_list("config_hash", flat=True).first())
        under_way = Deployment.objects.filter(project=project, status__in=ACTIVE_STATUSES,
                                              config_hash=project.config_hash).exists()
        if good == project.config_hash or under_way:
            unchanged.append(project.name)
            continue
        started.append(deployment_request(project=project, actor=actor, trigger=Deployment.Trigger.RECONCILE))
    audit_record(action="deployments.reconcile", target=tenant, actor=actor, tenant=tenant,
                 changes={"deployed": [d.project.name for d in started], "unchanged": unchanged})
    return {"deployments": started, "unchanged": unchanged}
