"""Family 2: cross-tenant matrix over every tenant-scoped route the schema generator knows.

Callers: a person of every role and a key of every scope, in the attacker tenant, aimed at the
victim tenant's objects; the same cast in the victim tenant, checked against the policy table.
Every call runs in a transaction that is rolled back, so a leaking write could not hide a later
leak (and the matrix stays independent of order).
"""
import json
import uuid

import pytest
from django.db import transaction
from rest_framework.permissions import SAFE_METHODS

from tenants.policy import Role, key_role_ceiling, role_at_least
from tests.hardening import figures
from tests.hardening.routes import (
    RawBody,
    Route,
    all_routes,
    protocol_headers,
    required_action,
    sample_body,
    tenant_routes,
)
from tests.hardening.world import KEY_SCOPES, Principal, Side, World, body_text
from tests.matrix import ROLES, policy_allows

ALL_LABELS = [r.value for r in ROLES] + list(KEY_SCOPES)


def param_values(route: Route, side: Side, *, missing: bool = False) -> dict:
    """Path parameters naming `side`'s objects (or, with `missing`, objects that do not exist)."""
    values = {}
    for name in route.params:
        if name in ("tenant_slug", "slug"):
            values[name] = f"no-such-{uuid.uuid4().hex[:8]}" if missing else side.tenant.slug
        elif name == route.object_param:
            obj = side.objects[route.model._meta.label]
            if missing:
                values[name] = f"S_MISSING_{uuid.uuid4().hex[:6].upper()}" if name == "name" else str(uuid.uuid4())
            else:
                # The URL names the view's lookup field (items: `{id}` is the tenant's external id).
                values[name] = str(getattr(obj, getattr(route.view, "lookup_field", name) or name))
        elif name == "file_pk":  # the file whose shares these are
            values[name] = str(uuid.uuid4()) if missing else str(side.objects["files.File"].pk)
        elif name == "project_name":  # the project whose deployments these are
            values[name] = f"missing-{uuid.uuid4().hex[:8]}" if missing else side.objects["deployments.Project"].name
        elif name == "name":  # a built-in satellite
            values[name] = "echo"
        else:
            raise KeyError(f"unknown path parameter {name} in {route}")
    return values


def roles_touched(route: Route, body, side: Side) -> set[str]:
    """Roles a member or invitation route would grant, change or remove."""
    roles = {body["role"]} if isinstance(body, dict) and "role" in body else set()
    if route.object_param and getattr(route.model, "_meta", None) and route.model._meta.label == "tenants.Membership":
        roles.add(side.objects["tenants.Membership"].role)
    return roles


def resolve_body(route: Route, own: Side, n: int, outsider: Side):
    """The route's sample body with `own`'s agent, and a person of `outsider` to add as a member."""
    body = sample_body(route, n)
    if body is None:
        return None
    if isinstance(body, RawBody):
        return body
    replacements = {"{agent}": str(own.objects["orchestration.Agent"].pk),
                    "{outsider}": str(outsider.principals["viewer"].user.pk),
                    "{item}": own.objects["recommendations.Item"].external_id,
                    "{host}": own.objects["deployments.Host"].name}

    def resolve(value):
        if isinstance(value, str):
            return replacements.get(value, value)
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    return resolve(body)


def call(principal: Principal, route: Route, params: dict, body, *, headers: dict | None = None):
    path = route.template.format(**params)
    headers = {**protocol_headers(route), **(headers or {})}
    if isinstance(body, RawBody):
        content, content_type, headers = body.content, body.content_type, {**body.headers, **headers}
    else:
        content, content_type = (json.dumps(body) if body is not None else ""), "application/json"
    with transaction.atomic():
        response = principal.client.generic(route.method, path, content, content_type=content_type,
                                            **headers)
        transaction.set_rollback(True)
    return response


def permitted(principal: Principal, route: Route, params: dict) -> bool:
    action = required_action(route, user=principal.user, kwargs=params)
    return policy_allows(action, role=principal.role, scopes=principal.scopes)


def error_code(response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def test_every_write_route_has_a_sample_body():
    unsafe = [r for r in tenant_routes() if r.method not in SAFE_METHODS]
    assert unsafe, "the schema generator found no write routes"
    for route in unsafe:
        sample_body(route)  # raises for a route added without a body


def test_every_tenant_scoped_route_is_covered():
    routes = tenant_routes()
    object_routes = [r for r in routes if r.object_param or {"slug", "tenant_slug"} & set(r.params)]
    assert len(routes) >= 60 and len(object_routes) >= 40, (len(routes), len(object_routes))


@pytest.mark.parametrize("label", ALL_LABELS)
def test_foreign_objects_are_not_found_for_every_attacker(world: World, label):
    """The victim's ids answer exactly like ids that do not exist: 404 (or the caller's own 403)."""
    attacker = world.attacker.principals[label]
    markers = world.victim_markers()
    tried = leaked = non_404 = 0
    failures = []
    for n, route in enumerate(r for r in tenant_routes() if r.object_param or {"slug", "tenant_slug"} & set(r.params)):
        body = resolve_body(route, world.attacker, n, world.victim)
        foreign = call(attacker, route, param_values(route, world.victim), body)
        missing = call(attacker, route, param_values(route, world.victim, missing=True), body)
        tried += 1
        text = body_text(foreign)
        if foreign.status_code < 400 or any(m in text for m in markers):
            leaked += 1
            failures.append(f"LEAK {route}: {foreign.status_code} {text[:200]}")
        # Tenant resolution by slug answers 404 before any policy check; objects by id answer 404
        # when the caller may do the action at all, else the same 403 a missing id gets.
        expected = {404}
        if not ({"slug", "tenant_slug"} & set(route.params)) and not permitted(
            attacker, route, param_values(route, world.attacker)
        ):
            expected = {403}
        if foreign.status_code != 404:
            non_404 += 1
        if foreign.status_code not in expected or (foreign.status_code, error_code(foreign)) != (
            missing.status_code, error_code(missing)
        ):
            failures.append(
                f"{route}: foreign {foreign.status_code}/{error_code(foreign)}, missing {missing.status_code}, "
                f"expected {expected}"
            )
    assert not failures, "\n".join(failures)
    figures.record(f"cross_tenant.foreign_objects.{label}", requests=tried * 2, leaked=leaked,
                   non_404_with_permission=0, non_404_without_permission=non_404)


@pytest.mark.parametrize("label", ALL_LABELS)
def test_naming_the_victim_tenant_in_x_tenant_answers_404_everywhere(world: World, label):
    attacker = world.attacker.principals[label]
    markers = world.victim_markers()
    tried, failures = 0, []
    for n, route in enumerate(r for r in tenant_routes() if not {"slug", "tenant_slug"} & set(r.params)):
        body = resolve_body(route, world.attacker, n, world.victim)
        response = call(attacker, route, param_values(route, world.attacker), body,
                        headers={"HTTP_X_TENANT": world.victim.tenant.slug})
        tried += 1
        text = body_text(response)
        if response.status_code != 404 or error_code(response) != "NOT_FOUND" or any(m in text for m in markers):
            failures.append(f"{route}: {response.status_code} {text[:200]}")
    assert not failures, "\n".join(failures)
    figures.record(f"cross_tenant.x_tenant_switch.{label}", requests=tried, leaked=0, non_404=0)


@pytest.mark.parametrize("label", ALL_LABELS)
def test_lists_and_filters_never_show_victim_rows(world: World, label):
    """Every readable route (tenant-scoped or not); for two callers also every declared filter set to
    each of the victim's ids (what one role sees of another tenant, all roles see)."""
    attacker = world.attacker.principals[label]
    markers = world.victim_markers()
    # One id of each kind a filter could take (nodes, groups, agents, clusters, keys, people).
    victim_ids = [str(world.victim.objects[label].pk) for label in (
        "monitoring.Node", "monitoring.NodeGroup", "orchestration.Agent", "orchestration.Cluster", "apikeys.ApiKey",
    )] + [str(world.victim.principals["owner"].user.pk)]
    tried, failures = 0, []
    for route in all_routes():
        if route.method != "GET" or route.template.startswith("/api/admin/"):
            continue
        path = route.template.format(**param_values(route, world.attacker))
        queries = [""]
        if label in ("owner", "key:read"):
            declared = sorted(getattr(getattr(route.view, "filterset_class", None), "base_filters", {}))
            queries += [f"?{name}={value}" for name in declared for value in victim_ids]
        for query in queries:
            response = attacker.client.get(path + query)
            tried += 1
            text = body_text(response)
            # A 400 may echo the caller's own input back; that is not a leak.
            if response.status_code >= 500 or any(m in text and m not in query for m in markers):
                failures.append(f"{route}{query}: {response.status_code} {text[:200]}")
    assert not failures, "\n".join(failures)
    figures.record(f"cross_tenant.lists_and_filters.{label}", requests=tried, leaked=0, server_errors=0)


FOREIGN_REFERENCES = [
    ("POST", "/api/v1/nodes/", lambda v: {"name": "x", "address": "192.0.2.30", "group": v["monitoring.NodeGroup"]}),
    ("PATCH", "/api/v1/nodes/{pk}/", lambda v: {"group": v["monitoring.NodeGroup"]}),
    ("POST", "/api/v1/maintenance-windows/", lambda v: {
        "name": "x", "node": v["monitoring.Node"], "starts_at": "2030-01-01T00:00:00Z",
        "ends_at": "2030-01-02T00:00:00Z"}),
    ("POST", "/api/v1/maintenance-windows/", lambda v: {
        "name": "y", "group": v["monitoring.NodeGroup"], "starts_at": "2030-01-01T00:00:00Z",
        "ends_at": "2030-01-02T00:00:00Z"}),
    ("PATCH", "/api/v1/maintenance-windows/{pk}/", lambda v: {"node": v["monitoring.Node"]}),
    ("POST", "/api/v1/tasks/", lambda v: {"title": "x", "agent_id": v["orchestration.Agent"]}),
]


@pytest.mark.parametrize("label", ["owner", "admin", "operator", "key:all", "key:write"])
def test_write_bodies_cannot_reference_victim_objects(world: World, label):
    from monitoring.models import MaintenanceWindow, Node
    from orchestration.models import AgentTask

    attacker = world.attacker.principals[label]
    victim_ids = {k: str(o.pk) for k, o in world.victim.objects.items()}
    routes = {(r.method, r.template): r for r in tenant_routes()}
    failures = []
    for method, template, make in FOREIGN_REFERENCES:
        route = routes[(method, template)]
        response = call(attacker, route, param_values(route, world.attacker), make(victim_ids))
        if response.status_code not in (400, 403, 404):
            failures.append(f"{route}: {response.status_code} {body_text(response)[:200]}")
    # Nothing of the attacker's now points at the victim's objects.
    assert not Node.objects.filter(tenant=world.attacker.tenant, group__tenant=world.victim.tenant).exists()
    assert not MaintenanceWindow.objects.filter(tenant=world.attacker.tenant, node__tenant=world.victim.tenant).exists()
    assert not AgentTask.objects.filter(tenant=world.attacker.tenant, agent__tenant=world.victim.tenant).exists()
    assert not failures, "\n".join(failures)
    figures.record(f"cross_tenant.foreign_references.{label}", requests=len(FOREIGN_REFERENCES), persisted=0)


@pytest.mark.parametrize("label", ALL_LABELS)
def test_own_tenant_calls_follow_the_policy_table(world: World, label):
    """Inside its own tenant each caller gets 403 exactly where the policy table says so."""
    principal = world.victim.principals[label]
    tried, failures = 0, []
    for n, route in enumerate(tenant_routes()):
        params = param_values(route, world.victim)
        body = resolve_body(route, world.victim, n, world.attacker)
        response = call(principal, route, params, body)
        tried += 1
        allowed = permitted(principal, route, params)
        # A member writes only rows it created; creating a file's share writes on the file (the
        # owner's), named by the parent parameter `file_pk`.
        own_rows_only = (
            getattr(route.view, "owner_field", None) and (route.object_param or "file_pk" in route.params)
            and route.unsafe and principal.role == Role.MEMBER
        )
        # Object-level rule on top of the table: rotating hands out a secret, so a key may only
        # rotate keys whose scopes it could have granted itself.
        victim_key = world.victim.objects["apikeys.ApiKey"]
        above_own_scopes = (
            route.action == "rotate" and principal.is_key and not set(victim_key.scopes) <= set(principal.scopes)
        )
        # And a key grants, changes or removes no role above its ceiling (tenants.policy).
        above_role_ceiling = principal.is_key and route.unsafe and any(
            not role_at_least(key_role_ceiling(principal.scopes), role)
            for role in roles_touched(route, body, world.victim)
        )
        if response.status_code >= 500:
            failures.append(f"{route}: 5xx {body_text(response)[:300]}")
        elif not allowed or own_rows_only or above_own_scopes or above_role_ceiling:
            if response.status_code != 403 or error_code(response) != "FORBIDDEN":
                failures.append(f"{route}: expected 403, got {response.status_code} {body_text(response)[:200]}")
        elif response.status_code in (401, 403, 404):
            failures.append(f"{route}: allowed but {response.status_code} {body_text(response)[:200]}")
    assert not failures, "\n".join(failures)
    figures.record(f"cross_tenant.own_tenant_policy.{label}", requests=tried, mismatches=0)
