"""A populated victim tenant, an attacker tenant, and the whole cast of principals of each.

The cross-tenant and mass-assignment suites share this: every tenant-scoped model has at least
one object in the victim tenant, and each tenant has a person of every role and an API key of
every scope (plus one with all scopes). Objects are made through the services, as the API does.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apikeys import services as apikey_services
from apikeys.models import ApiCall
from billing import services as billing_services
from deployments import services as deployment_services
from files import services as file_services
from files import uploads as file_uploads
from monitoring import alerts
from monitoring import services as monitoring_services
from orchestration import services
from orchestration import services as orchestration_services
from recommendations import services as recommendation_services
from recommendations import training
from recommendations.models import Item
from tenants import services as tenant_services
from tenants.policy import Role
from tests.deployments.factories import OTHER_HOST_KEY
from tests.factories import MembershipFactory, PlanFactory, TenantFactory, UserFactory
from tests.matrix import ROLES, SCOPES
from tests.monitoring.factories import IncidentFactory

KEY_SCOPES = {**{f"key:{scope}": [scope] for scope in SCOPES}, "key:all": SCOPES}
PLAN_SLUG = "hardening-pro"  # the plan both tenants are on (and the subscription PUT names)
CLUSTER_DEFINITION = "name: {name}\nsteps:\n  - {{id: a, satellite: echo, inputs: {{message: hi}}}}\n"


@dataclass
class Principal:
    label: str  # "owner" … "viewer", "key:read" …
    client: APIClient
    user: object | None = None
    role: str | None = None
    scopes: list[str] | None = None
    secret: str = ""

    @property
    def is_key(self) -> bool:
        return self.scopes is not None


@dataclass
class Side:
    tenant: object
    principals: dict[str, Principal] = field(default_factory=dict)
    objects: dict[str, object] = field(default_factory=dict)  # model label → one object
    secrets: list[str] = field(default_factory=list)  # every secret minted for this side


def person_client(user, tenant_slug: str | None) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    if tenant_slug:
        client.defaults["HTTP_X_TENANT"] = tenant_slug
    return client


def key_client(secret: str) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def _cast(tenant) -> Side:
    side = Side(tenant=tenant)
    for role in ROLES:
        # JWTs need no password; skipping the hash saves a second per user on a busy machine.
        user = MembershipFactory(tenant=tenant, role=role, user=UserFactory(password=None)).user
        client = person_client(user, tenant.slug)
        side.principals[role.value] = Principal(role.value, client, user=user, role=role.value)
    for label, scopes in KEY_SCOPES.items():
        _key, secret = apikey_services.api_key_create(tenant=tenant, name=label, scopes=scopes)
        side.principals[label] = Principal(label, key_client(secret), scopes=scopes, secret=secret)
        side.secrets.append(secret)
    return side


def _populate(side: Side) -> None:
    """One object of every tenant-scoped model, created by the side's owner."""
    tenant, owner = side.tenant, side.principals["owner"].user
    tag = tenant.slug
    group = monitoring_services.group_create(tenant=tenant, actor=owner, name=f"grp-{tag}", min_online=1)
    node = monitoring_services.node_create(
        tenant=tenant, actor=owner, name=f"node-{tag}", address="192.0.2.10", port=443, group=group,
        interval_seconds=60, timeout_seconds=5,
    )
    channel, signing_secret = alerts.alert_channel_create(
        tenant=tenant, actor=owner, name=f"hook-{tag}", kind="webhook", url="https://hooks.example.com/gs"
    )
    side.secrets.append(signing_secret)
    now = timezone.now()
    window = monitoring_services.maintenance_window_create(
        tenant=tenant, actor=owner, name=f"mw-{tag}", node=node, starts_at=now, ends_at=now + timedelta(hours=1)
    )
    incident = IncidentFactory(tenant=tenant, node=node)
    cluster = orchestration_services.cluster_create(
        tenant=tenant, definition=CLUSTER_DEFINITION.format(name=f"cl-{tag}"), actor=owner
    )
    run = services.run_trigger(cluster=cluster, inputs={}, actor=owner)
    execution = services.execution_create(tenant=tenant, satellite="echo", inputs={"message": "x"}, actor=owner)
    secret_value = f"vault-{uuid.uuid4().hex}"
    secret = orchestration_services.secret_set(tenant=tenant, name=f"S_{tag.upper().replace('-', '_')}",
                                               value=secret_value, actor=owner)
    side.secrets.append(secret_value)
    agent = orchestration_services.agent_create(tenant=tenant, actor=owner, name=f"agent-{tag}", prompt="p",
                                                model="m")
    task = orchestration_services.agent_task_create(tenant=tenant, agent=agent, title="t", actor=owner)
    invitation = tenant_services.invitation_create(
        tenant=tenant, email=f"invitee-{tag}@example.com", role=Role.MEMBER, actor=owner, actor_role=Role.OWNER
    )
    side.secrets.append(tenant_services.invitation_token(invitation))
    key, key_secret = apikey_services.api_key_create(tenant=tenant, name=f"victim-key-{tag}", scopes=["read"])
    side.secrets.append(key_secret)
    apikey_services.usage_calls_store(rows=[{
        "id": str(uuid.uuid4()), "request_id": uuid.uuid4().hex, "tenant_id": str(tenant.pk),
        "api_key_id": str(key.pk), "user_id": None, "route": "/api/v1/nodes", "method": "GET", "status": 200,
        "duration_ms": 3.0, "at": now.isoformat(),
    }])
    membership = tenant.memberships.get(user=side.principals["member"].user)
    side.objects.update(_populate_second_wave(side, owner, now))
    side.objects.update(_populate_deployments(side, owner))
    side.objects.update({
        "monitoring.NodeGroup": group, "monitoring.Node": node, "monitoring.AlertChannel": channel,
        "monitoring.MaintenanceWindow": window, "monitoring.Incident": incident, "orchestration.Cluster": cluster,
        "orchestration.Run": run, "orchestration.Execution": execution, "orchestration.Secret": secret,
        "orchestration.Agent": agent, "orchestration.AgentTask": task, "tenants.Invitation": invitation,
        "apikeys.ApiKey": key, "apikeys.ApiCall": ApiCall.objects.filter(tenant_id=tenant.pk).first(),
        "tenants.Membership": membership, "tenants.Tenant": tenant,
    })


def _populate_second_wave(side: Side, owner, now) -> dict:
    """Recommendations, billing and files: an item with interactions and a trained model version,
    a subscription with a closed (invoiced) period and its payment, a file with a share and an upload."""
    tenant, tag = side.tenant, side.tenant.slug
    # Item ids carry the slug, so an item's id in an attacker's response is a victim marker too.
    recommendation_services.item_upsert_many(tenant=tenant, actor=owner, items=[
        {"external_id": f"item-{tag}-{i}", "title": f"Item {i}", "categories": ["c"]} for i in range(3)])
    recommendation_services.interactions_ingest(tenant=tenant, events=[
        {"user_id": f"u{u}", "item_id": f"item-{tag}-{i}", "type": "view"} for u in range(3) for i in range(3)])
    model = training.model_train_request(tenant=tenant, actor=owner, enqueue=False)
    training.model_train(model_id=model.pk)  # too few events to beat popularity: it ends `failed`
    model.refresh_from_db()
    subscription = billing_services.subscription_ensure(tenant=tenant, now=now - timedelta(days=40))
    invoice = billing_services.subscription_close_period(subscription_id=subscription.pk, now=now)
    payment = billing_services.invoice_record_payment(invoice=invoice, amount_cents=invoice.total_cents,
                                                      currency=invoice.currency, actor=owner, now=now)
    content = f"report of {tag}".encode()
    upload = SimpleUploadedFile(f"report-{tag}.txt", content)
    upload.sha256 = hashlib.sha256(content).hexdigest()
    file = file_services.file_create(tenant=tenant, upload=upload, created_by=owner, actor=owner)
    share, token = file_services.share_create(file=file, created_by=owner, actor=owner)
    side.secrets.append(token)
    upload_session = file_uploads.upload_session_create(tenant=tenant, length=10, name=f"part-{tag}.bin",
                                                        created_by=owner, actor=owner)
    return {
        "recommendations.Item": Item.objects.for_tenant(tenant).get(external_id=f"item-{tag}-0"),
        "recommendations.RecommendationModel": model, "billing.Subscription": subscription,
        "billing.Invoice": invoice, "billing.Payment": payment, "files.File": file, "files.FileShare": share,
        "files.FileUploadSession": upload_session,
    }


def _populate_deployments(side: Side, owner) -> dict:
    """A host (names carry the slug: DNS labels), a project on it with a deploy under way, the deploy key."""
    tenant, tag = side.tenant, side.tenant.slug
    host = deployment_services.host_create(tenant=tenant, actor=owner, name=f"h-{tag}", address="192.0.2.30",
                                           port=22, username="deploy", host_key=OTHER_HOST_KEY)
    project = deployment_services.project_create(tenant=tenant, actor=owner, name=f"p-{tag}", host=host,
                                                 directory="/srv/app", deploy_steps=[["true"]])
    deployment = deployment_services.deployment_request(project=project, actor=owner)
    return {"deployments.Host": host, "deployments.Project": project, "deployments.Deployment": deployment,
            "deployments.DeployKey": deployment_services.deploy_key_get_or_create(tenant=tenant)}


@dataclass
class World:
    victim: Side
    attacker: Side

    def victim_markers(self) -> set[str]:
        """Strings that only the victim's data contains: any of them in an attacker's response is a leak."""
        markers = {str(self.victim.tenant.pk), self.victim.tenant.slug}
        for obj in self.victim.objects.values():
            markers.add(str(obj.pk))
        for principal in self.victim.principals.values():
            if principal.user is not None:
                markers.update({str(principal.user.pk), principal.user.email})
        return markers


def build_world() -> World:
    plan = PlanFactory(slug=PLAN_SLUG, name="Hardening Pro", price_cents=2900, currency="eur", interval="month")
    victim = _cast(TenantFactory(slug=f"victim-{uuid.uuid4().hex[:6]}", plan=plan))
    attacker = _cast(TenantFactory(slug=f"attacker-{uuid.uuid4().hex[:6]}", plan=plan))
    _populate(victim)
    _populate(attacker)
    # Model versions are numbered per tenant: the victim's must be one the attacker lacks, or the
    # attacker asking for "the victim's" version would rightly get its own.
    newer = training.model_train_request(tenant=victim.tenant, actor=victim.principals["owner"].user, enqueue=False)
    training.model_train(model_id=newer.pk)
    newer.refresh_from_db()
    victim.objects["recommendations.RecommendationModel"] = newer
    return World(victim=victim, attacker=attacker)


def body_text(response) -> str:
    content = getattr(response, "content", b"") or b""
    if not content and hasattr(response, "streaming_content"):
        return ""
    return content.decode(errors="replace") if isinstance(content, bytes) else json.dumps(content)
