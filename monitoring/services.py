"""Monitoring writes: the fleet, check results and the state transitions they cause.

Every write is a keyword-only service called alike by the API, the admin, Celery tasks and
management commands. Status changes publish live events and open/resolve incidents here, in
one place, so the API's "check now" and the beat poller behave identically.
"""
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.audit import audit_record
from core.db import save_existing
from monitoring import alerts, live, metrics
from monitoring.checks import CheckResult, CheckSpec, run_checks
from monitoring.models import (
    AVAILABLE,
    AlertDelivery,
    Heartbeat,
    Incident,
    MaintenanceWindow,
    Node,
    NodeGroup,
    Snapshot,
    Status,
)
from monitoring.results import (
    SNAPSHOT_FIELDS,
    NodeState,
    Transition,
    apply_results,
    claimed_nodes,
    insert_snapshots,
    merge_last_metrics,
    write_states,
)
from tenants.models import Tenant

NODE_CONFIG_FIELDS = (
    "name",
    "address",
    "port",
    "pubkey",
    "check_type",
    "tls",
    "path",
    "expected_status",
    "expected_body",
    "expected_json_field",
    "expected_json_value",
    "rpc_method",
    "rpc_params",
    "expected_result",
    "expected_result_value",
    "metrics",
    "interval_seconds",
    "timeout_seconds",
    "enabled",
    "group",
    "tags",
)


def heartbeat_record(*, key: str, sent_at: datetime, worker: str) -> Heartbeat:
    heartbeat, _ = Heartbeat.objects.update_or_create(
        key=key, defaults={"worker": worker, "sent_at": sent_at, "seen_at": timezone.now()}
    )
    return heartbeat


# --- Nodes ----------------------------------------------------------------------------------
def _audit_fields(values: dict) -> dict:
    """JSON-safe summary of the changed fields: related objects by id, datetimes as ISO."""
    def plain(value):
        if hasattr(value, "pk"):
            return str(value.pk)
        if isinstance(value, datetime):
            return value.isoformat()
        return value

    return {k: plain(v) for k, v in values.items()}


@transaction.atomic
def node_create(*, tenant: Tenant, actor=None, **fields) -> Node:
    unknown = set(fields) - set(NODE_CONFIG_FIELDS)
    if unknown:
        raise TypeError(f"unknown node fields: {sorted(unknown)}")
    node = Node.objects.create(tenant=tenant, next_check_at=timezone.now(), **fields)
    audit_record(action="node.create", target=node, actor=actor, tenant=tenant, changes=_audit_fields(fields))
    if node.group_id:
        group_recompute(group=node.group, quiet=True)
    return node


@transaction.atomic
def node_update(*, node: Node, actor=None, **fields) -> Node:
    unknown = set(fields) - set(NODE_CONFIG_FIELDS)
    if unknown:
        raise TypeError(f"unknown node fields: {sorted(unknown)}")
    old_group_id = node.group_id
    was_enabled = node.enabled
    for name, value in fields.items():
        setattr(node, name, value)
    if "interval_seconds" in fields or ("enabled" in fields and node.enabled and not was_enabled):
        node.next_check_at = timezone.now()  # apply a new schedule right away
    if "enabled" in fields and not node.enabled and was_enabled:
        _node_set_unknown(node)
    if "metrics" in fields:  # a metric no longer declared has no latest value
        node.last_metrics = {name: value for name, value in node.last_metrics.items() if name in node.metrics}
    save_existing(node)
    audit_record(action="node.update", target=node, actor=actor, tenant=node.tenant, changes=_audit_fields(fields))
    for group in NodeGroup.objects.filter(pk__in={old_group_id, node.group_id} - {None}):
        group_recompute(group=group, quiet=True)
    return node


@transaction.atomic
def node_delete(*, node: Node, actor=None) -> None:
    group = node.group
    audit_record(action="node.delete", target=node, actor=actor, tenant=node.tenant, changes={"name": node.name})
    node.delete()
    if group is not None:
        group_recompute(group=group, quiet=True)


def _node_set_unknown(node: Node) -> None:
    """A node nobody checks has no known status; its open incident is closed."""
    now = timezone.now()
    if node.status == Status.DOWN:
        _incident_resolve(node=node, now=now, reason="monitoring paused")
    node.status, node.status_changed_at, node.consecutive_failures = Status.UNKNOWN, now, 0


@transaction.atomic
def node_pause(*, node: Node, actor=None) -> Node:
    return node_update(node=node, actor=actor, enabled=False)


@transaction.atomic
def node_resume(*, node: Node, actor=None) -> Node:
    return node_update(node=node, actor=actor, enabled=True)


def node_check_now(*, node: Node) -> Snapshot:
    """Run the node's check at once (outside the schedule) and record it like a polled one."""
    return nodes_check_now(nodes=[node])[0]


def nodes_check_now(*, nodes: list[Node]) -> list[Snapshot]:
    """Check several nodes at once, concurrently (the admin's "check now")."""
    specs = [CheckSpec.from_node(node) for node in nodes]
    return checks_record(results=run_checks(specs, concurrency=settings.MONITORING_CHECK_CONCURRENCY))


# --- Scheduling -----------------------------------------------------------------------------
def nodes_claim_due(*, now: datetime | None = None, limit: int = 1000) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """Claim up to `limit` due nodes for one batch; returns (claim token, node ids).

    The claim is the conditional UPDATE `next_check_at <= now → next_check_at = now + interval`:
    a row can only satisfy the condition once per interval, so overlapping dispatchers (two beat
    processes, a slow dispatch overlapping the next) never claim the same node twice. The UPDATE
    is issued per distinct interval so the new `next_check_at` is a plain value on every backend.
    """
    now = now or timezone.now()
    token = uuid.uuid4()
    due = Node.objects.filter(enabled=True, next_check_at__lte=now)
    candidates = list(due.order_by("next_check_at").values_list("pk", "interval_seconds")[:limit])
    by_interval: dict[int, list] = {}
    for pk, interval in candidates:
        by_interval.setdefault(interval, []).append(pk)
    for interval, pks in by_interval.items():
        for start in range(0, len(pks), 500):  # stay under SQLite's parameter limit
            due.filter(pk__in=pks[start : start + 500], interval_seconds=interval).update(
                next_check_at=now + timedelta(seconds=interval), claim_token=token
            )
    claimed = list(Node.objects.filter(claim_token=token).values_list("pk", flat=True))
    return token, claimed


def nodes_run_claimed(*, token: uuid.UUID | str, node_ids: Iterable) -> list[CheckResult]:
    """Check the nodes this batch claimed (skipping any re-claimed by a later batch); returns
    the results recorded."""
    specs, states = claimed_nodes(token=token, node_ids=node_ids)
    checked = run_checks(specs, concurrency=settings.MONITORING_CHECK_CONCURRENCY)
    with transaction.atomic():
        rows = _record(checked=checked, states=states, now=timezone.now())
        insert_snapshots(rows)
    return checked


# --- Recording results ----------------------------------------------------------------------
@transaction.atomic
def checks_record(
    *, results: list[CheckResult], now: datetime | None = None, nodes: list[Node] | None = None
) -> list[Snapshot]:
    """Record checks made outside the schedule ("check now"): the snapshots, each node's new
    state and what its transitions cause, exactly as a polled batch records them."""
    if nodes is None:
        nodes = list(Node.objects.filter(pk__in=[r.node_id for r in results]))
    states = {str(node.pk): NodeState.from_node(node) for node in nodes}
    rows = _record(checked=results, states=states, now=now or timezone.now())
    return Snapshot.objects.bulk_create([Snapshot(**dict(zip(SNAPSHOT_FIELDS, row, strict=True))) for row in rows])


def _record(*, checked: list[CheckResult], states: dict, now: datetime) -> list[tuple]:
    """Advance the nodes' states, write them, and act on the transitions; returns the snapshot
    rows for the caller to insert. A constant number of statements per batch, plus a few per
    transition kind (incidents, alerts) and per group whose member changed status."""
    rows, transitions, written = apply_results(
        results=checked, states=states, threshold=max(1, settings.MONITORING_FAILURE_THRESHOLD),
        degraded_ms=settings.MONITORING_DEGRADED_LATENCY_MS, now=now,
    )
    write_states(written, now)
    merge_last_metrics(rows)
    if transitions:
        _nodes_transitioned(transitions=transitions, now=now)
    group_ids = {node.group_id for node in written if node.group_id}
    if group_ids:
        NodeGroup.objects.filter(pk__in=group_ids).update(last_checked_at=now)
        changed_groups = {t.node.group_id for t in transitions if t.node.group_id}
        for group in NodeGroup.objects.filter(pk__in=changed_groups):
            group_recompute(group=group, now=now)
    outcomes = [(row[3], row[4]) for row in rows]  # status, latency
    transaction.on_commit(lambda: metrics.record_outcomes(outcomes))
    return rows


def _node_payload(node: NodeState, old: str) -> dict:
    return {
        "node_id": str(node.id),
        "name": node.name,
        "status": node.status,
        "previous_status": old,
        "group_id": str(node.group_id) if node.group_id else None,
        "latency_ms": node.last_latency_ms,
        "error": node.last_error,
        "last_checked_at": node.last_checked_at.isoformat() if node.last_checked_at else None,
    }


def _nodes_transitioned(*, transitions: list[Transition], now: datetime) -> None:
    """Incidents of the nodes that went down (outside maintenance) or came back, in bulk, then
    the live events: the incidents' first, then the nodes' (as subscribers always saw them)."""
    down = [t.node for t in transitions if t.new == Status.DOWN]
    back = [t.node for t in transitions if t.old == Status.DOWN and t.new != Status.DOWN]
    maintained = _maintained_node_ids(nodes=down, now=now) if down else set()
    opened = _node_incidents_open(nodes=[n for n in down if n.id not in maintained], now=now)
    resolved = _node_incidents_resolve(nodes=back, now=now)
    live.publish_many_on_commit(
        [(i.tenant_id, "incident.opened", _incident_payload(i)) for i in opened]
        + [(i.tenant_id, "incident.resolved", _incident_payload(i)) for i in resolved]
    )
    alerts.alerts_enqueue_many(incidents=opened, event=AlertDelivery.Event.OPENED)
    alerts.alerts_enqueue_many(incidents=resolved, event=AlertDelivery.Event.RESOLVED)
    if opened:
        metrics.record_incident_opened(count=len(opened))
    live.publish_many_on_commit([(t.node.tenant_id, "node.status", _node_payload(t.node, t.old)) for t in transitions])


def _maintained_node_ids(*, nodes: list[NodeState], now: datetime) -> set:
    """The nodes an active maintenance window covers (see `in_maintenance`), in one query."""
    windows = MaintenanceWindow.objects.filter(
        tenant_id__in={n.tenant_id for n in nodes}, starts_at__lte=now, ends_at__gt=now
    ).values_list("tenant_id", "node_id", "group_id")
    whole_tenants = {tenant for tenant, node, group in windows if node is None and group is None}
    node_ids = {node for _tenant, node, _group in windows if node is not None}
    group_ids = {group for _tenant, node, group in windows if node is None and group is not None}
    return {n.id for n in nodes if n.tenant_id in whole_tenants or n.id in node_ids or n.group_id in group_ids}


def _node_incidents_open(*, nodes: list[NodeState], now: datetime) -> list[Incident]:
    """Open an incident for each node that has none open; returns those opened. The partial
    unique index refuses a second open incident, so a node that has one is skipped."""
    if not nodes:
        return []
    candidates = [
        Incident(tenant_id=n.tenant_id, node_id=n.id, title=f"Node {n.name} is down",
                 cause=(n.last_error or "check failed")[:500], opened_at=now, last_notified_at=now)
        for n in nodes
    ]
    Incident.objects.bulk_create(candidates, ignore_conflicts=True)
    created = set(Incident.objects.filter(pk__in=[c.pk for c in candidates]).values_list("pk", flat=True))
    return [c for c in candidates if c.pk in created]


def _node_incidents_resolve(*, nodes: list[NodeState], now: datetime) -> list[Incident]:
    if not nodes:
        return []
    incidents = list(
        Incident.objects.select_for_update().filter(state=Incident.State.OPEN, node_id__in=[n.id for n in nodes])
    )
    Incident.objects.filter(pk__in=[i.pk for i in incidents]).update(state=Incident.State.RESOLVED, resolved_at=now)
    for incident in incidents:
        incident.state, incident.resolved_at = Incident.State.RESOLVED, now
    return incidents


def in_maintenance(*, tenant_id, now: datetime, node: Node | None = None, group: NodeGroup | None = None) -> bool:
    scope = Q(node__isnull=True, group__isnull=True)
    if node is not None:
        scope |= Q(node=node)
        if node.group_id:
            scope |= Q(group_id=node.group_id, node__isnull=True)
    if group is not None:
        scope |= Q(group=group, node__isnull=True)
    return MaintenanceWindow.objects.filter(scope, tenant_id=tenant_id, starts_at__lte=now, ends_at__gt=now).exists()


# --- Groups ---------------------------------------------------------------------------------
def group_status(*, min_online: int, member_statuses: list[str]) -> str:
    """Quorum: `up` while ≥ min_online members are available; `degraded` when the quorum holds
    but a checked member is down or slow; `down` below the quorum; `unknown` while members not
    yet checked could still make up the quorum (no false alarm right after creation)."""
    checked = [s for s in member_statuses if s != Status.UNKNOWN]
    unchecked = len(member_statuses) - len(checked)
    available = sum(1 for s in checked if s in AVAILABLE)
    required = max(1, min_online)
    if available >= required:
        return Status.UP if all(s == Status.UP for s in checked) else Status.DEGRADED
    if not checked or available + unchecked >= required:
        return Status.UNKNOWN
    return Status.DOWN


@transaction.atomic
def group_recompute(*, group: NodeGroup, now: datetime | None = None, quiet: bool = False) -> NodeGroup:
    """Re-derive the group's status from its members'.

    Only check results open incidents. A change of configuration (members added, moved or
    removed, `min_online` edited, a member paused) is `quiet`: the status follows and is
    published, but no incident opens, so building a group one member at a time raises no
    alarms; an open incident is still resolved once the group is no longer down. A check-driven
    recompute opens an incident whenever the group is down without one, which also covers a
    group that configuration left down.
    """
    now = now or timezone.now()
    group = NodeGroup.objects.select_for_update().get(pk=group.pk)
    statuses = list(group.nodes.filter(enabled=True).values_list("status", flat=True))
    new = group_status(min_online=group.min_online, member_statuses=statuses)
    old = group.status
    available = sum(1 for s in statuses if s in AVAILABLE)
    if new != old:
        group.status, group.status_changed_at = new, now
        group.save(update_fields=["status", "status_changed_at", "updated_at"])
        _group_publish(group=group, old=old, available=available, members=len(statuses))
    if new == Status.DOWN:
        if not quiet and not in_maintenance(tenant_id=group.tenant_id, group=group, now=now):
            _incident_open(group=group, now=now, cause=f"{available} of {len(statuses)} members up, "
                                                         f"{group.min_online} required")
    elif old == Status.DOWN:
        _incident_resolve(group=group, now=now, reason=f"group is {new}")
    return group


def _group_publish(*, group: NodeGroup, old: str, available: int, members: int) -> None:
    live.publish_on_commit(
        tenant_id=group.tenant_id,
        event="group.status",
        data={
            "group_id": str(group.pk),
            "name": group.name,
            "status": group.status,
            "previous_status": old,
            "members_up": available,
            "members": members,
            "min_online": group.min_online,
        },
    )


@transaction.atomic
def group_create(*, tenant: Tenant, actor=None, name: str, min_online: int = 1, description: str = "") -> NodeGroup:
    group = NodeGroup.objects.create(tenant=tenant, name=name, min_online=min_online, description=description)
    audit_record(action="node_group.create", target=group, actor=actor, tenant=tenant,
                 changes={"name": name, "min_online": min_online})
    return group


@transaction.atomic
def group_update(*, group: NodeGroup, actor=None, **fields) -> NodeGroup:
    for name in set(fields) - {"name", "min_online", "description"}:
        raise TypeError(f"unknown group field: {name}")
    for name, value in fields.items():
        setattr(group, name, value)
    save_existing(group)
    audit_record(action="node_group.update", target=group, actor=actor, tenant=group.tenant, changes=fields)
    return group_recompute(group=group, quiet=True)


@transaction.atomic
def group_delete(*, group: NodeGroup, actor=None) -> None:
    audit_record(action="node_group.delete", target=group, actor=actor, tenant=group.tenant,
                 changes={"name": group.name})
    group.delete()


# --- Maintenance ----------------------------------------------------------------------------
@transaction.atomic
def maintenance_window_create(*, tenant: Tenant, actor=None, **fields) -> MaintenanceWindow:
    window = MaintenanceWindow.objects.create(tenant=tenant, **fields)
    audit_record(action="maintenance_window.create", target=window, actor=actor, tenant=tenant,
                 changes=_audit_fields(fields))
    return window


@transaction.atomic
def maintenance_window_update(*, window: MaintenanceWindow, actor=None, **fields) -> MaintenanceWindow:
    for name, value in fields.items():
        setattr(window, name, value)
    save_existing(window)
    audit_record(action="maintenance_window.update", target=window, actor=actor, tenant=window.tenant,
                 changes=_audit_fields(fields))
    return window


@transaction.atomic
def maintenance_window_delete(*, window: MaintenanceWindow, actor=None) -> None:
    audit_record(action="maintenance_window.delete", target=window, actor=actor, tenant=window.tenant,
                 changes={"name": window.name})
    window.delete()


# --- Incidents ------------------------------------------------------------------------------
def _incident_payload(incident: Incident) -> dict:
    return {
        "incident_id": str(incident.pk),
        "title": incident.title,
        "state": incident.state,
        "node_id": str(incident.node_id) if incident.node_id else None,
        "group_id": str(incident.group_id) if incident.group_id else None,
        "opened_at": incident.opened_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
    }


def _incident_open(*, now: datetime, cause: str, node: Node | None = None, group: NodeGroup | None = None):
    subject = node or group
    kind = "Node" if node else "Group"
    try:
        with transaction.atomic():  # savepoint: the partial unique index may refuse a second open
            incident = Incident.objects.create(
                tenant_id=subject.tenant_id,
                node=node,
                group=group,
                title=f"{kind} {subject.name} is down",
                cause=cause[:500],
                opened_at=now,
                last_notified_at=now,
            )
    except IntegrityError:
        return None  # already open
    live.publish_on_commit(tenant_id=incident.tenant_id, event="incident.opened", data=_incident_payload(incident))
    alerts.alerts_enqueue(incident=incident, event=AlertDelivery.Event.OPENED)
    metrics.record_incident_opened(count=1)
    return incident


def incident_open_for(*, tenant_id, title: str, cause: str) -> Incident:
    """An incident of something other than a node or a group (a deploy that timed out, say),
    delivered to the tenant's alert channels like any other; it stays open until resolved."""
    now = timezone.now()
    incident = Incident.objects.create(tenant_id=tenant_id, title=title[:300], cause=cause[:500], opened_at=now,
                                       last_notified_at=now)
    live.publish_on_commit(tenant_id=incident.tenant_id, event="incident.opened", data=_incident_payload(incident))
    alerts.alerts_enqueue(incident=incident, event=AlertDelivery.Event.OPENED)
    metrics.record_incident_opened(count=1)
    return incident


def incident_resolve_for(*, incident_id, now: datetime | None = None) -> Incident | None:
    """Resolve an incident opened by `incident_open_for` (the thing came right again)."""
    incident = Incident.objects.select_for_update().filter(
        pk=incident_id, state=Incident.State.OPEN, node__isnull=True, group__isnull=True).first()
    if incident is None:
        return None
    incident.state, incident.resolved_at = Incident.State.RESOLVED, now or timezone.now()
    incident.save(update_fields=["state", "resolved_at"])
    live.publish_on_commit(tenant_id=incident.tenant_id, event="incident.resolved", data=_incident_payload(incident))
    alerts.alerts_enqueue(incident=incident, event=AlertDelivery.Event.RESOLVED)
    return incident


def _incident_resolve(*, now: datetime, reason: str, node: Node | None = None, group: NodeGroup | None = None):
    lookup = {"node": node} if node is not None else {"group": group}
    incident = Incident.objects.select_for_update().filter(state=Incident.State.OPEN, **lookup).first()
    if incident is None:
        return None
    incident.state, incident.resolved_at = Incident.State.RESOLVED, now
    incident.save(update_fields=["state", "resolved_at"])
    live.publish_on_commit(tenant_id=incident.tenant_id, event="incident.resolved", data=_incident_payload(incident))
    alerts.alerts_enqueue(incident=incident, event=AlertDelivery.Event.RESOLVED)
    return incident


@transaction.atomic
def incident_acknowledge(*, incident: Incident, actor=None) -> Incident:
    """Idempotent: the first acknowledgement wins and stops reminders."""
    if incident.acknowledged_at is None:
        incident.acknowledged_at = timezone.now()
        incident.acknowledged_by = actor if getattr(actor, "pk", None) is not None else None
        save_existing(incident, update_fields=["acknowledged_at", "acknowledged_by"])
        audit_record(action="incident.acknowledge", target=incident, actor=actor, tenant=incident.tenant)
        live.publish_on_commit(
            tenant_id=incident.tenant_id,
            event="incident.acknowledged",
            data=_incident_payload(incident) | {"acknowledged_at": incident.acknowledged_at.isoformat()},
        )
    return incident
