"""Every API operation, read from the same generator that writes the OpenAPI schema.

New routes therefore join the hardening suites by themselves; a write route without a sample
body below fails `test_every_write_route_has_a_sample_body`, so it cannot slip through untested.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from types import SimpleNamespace

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.permissions import SAFE_METHODS

from core.api.tenancy import TenantScopedViewSet
from tenants.policy import Action
from tests.deployments.factories import OTHER_HOST_KEY

PARAM = re.compile(r"{(\w+)}")


def protocol_headers(route: Route) -> dict:
    """Headers every call of the route carries: tus routes answer 412 to a client without Tus-Resumable."""
    return {"HTTP_TUS_RESUMABLE": "1.0.0"} if route.template.startswith("/api/v1/uploads/") else {}


@dataclass(frozen=True)
class RawBody:
    """A write body that is not JSON: a multipart upload, or a tus request (headers, raw bytes)."""

    content: bytes
    content_type: str
    headers: dict


def _multipart_file(n: int) -> RawBody:
    content = encode_multipart(BOUNDARY, {"file": SimpleUploadedFile(f"f-{n}.txt", b"hardening bytes")})
    return RawBody(content, MULTIPART_CONTENT, {})


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # "/api/v1/nodes/{pk}/check/"
    view: type
    action: str

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.template)

    @property
    def tenant_scoped(self) -> bool:
        return issubclass(self.view, TenantScopedViewSet)

    @property
    def model(self):
        queryset = getattr(self.view, "queryset", None)
        return None if queryset is None else queryset.model

    @property
    def object_param(self) -> str | None:
        """The path parameter naming one tenant object (None for collections and built-ins)."""
        lookup = getattr(self.view, "lookup_url_kwarg", None) or getattr(self.view, "lookup_field", "pk")
        if lookup not in self.params or self.model is None:
            return None
        fields = self.model._meta.get_fields()
        field_names = {f.name for f in fields} | {getattr(f, "attname", f.name) for f in fields} | {"pk"}
        # `satellites/{name}` names a built-in satellite, not a row: Execution has no `name`.
        return lookup if lookup in field_names else None

    @property
    def unsafe(self) -> bool:
        return self.method not in SAFE_METHODS

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


@cache
def all_routes() -> tuple[Route, ...]:
    generator = SchemaGenerator()
    generator._initialise_endpoints()
    routes = []
    for path, _regex, method, callback in generator.endpoints:
        if not path.startswith(("/api/v1/", "/api/admin/")):
            continue
        action = (getattr(callback, "actions", None) or {}).get(method.lower(), method.lower())
        routes.append(Route(method=method, template=path, view=callback.cls, action=action))
    return tuple(routes)


def tenant_routes() -> list[Route]:
    return [r for r in all_routes() if r.tenant_scoped]


def required_action(route: Route, *, user=None, kwargs: dict | None = None) -> Action:
    """The policy action the view itself asks for (the view's own `required_action`)."""
    view = route.view()
    view.action = route.action
    view.kwargs = kwargs or {}
    view.request = SimpleNamespace(method=route.method, user=user)
    return view.required_action()


def sample_body(route: Route, n: int = 0) -> dict | RawBody | None:
    """A valid body for each write route, so that a missing tenant filter would really succeed."""
    now = timezone.now()
    bodies = {
        ("POST", "/api/v1/nodes/"): {"name": f"n-{n}", "address": "192.0.2.20", "port": 443},
        ("PUT", "/api/v1/nodes/{pk}/"): {"name": f"n-{n}", "address": "192.0.2.21", "port": 443},
        ("PATCH", "/api/v1/nodes/{pk}/"): {"port": 8443},
        ("POST", "/api/v1/node-groups/"): {"name": f"g-{n}", "min_online": 1},
        ("PUT", "/api/v1/node-groups/{pk}/"): {"name": f"g-{n}", "min_online": 1},
        ("PATCH", "/api/v1/node-groups/{pk}/"): {"min_online": 2},
        ("POST", "/api/v1/alert-channels/"): {"name": f"a-{n}", "kind": "email", "email": "ops@example.com"},
        ("PUT", "/api/v1/alert-channels/{pk}/"): {"name": f"a-{n}", "kind": "email", "email": "ops@example.com"},
        ("PATCH", "/api/v1/alert-channels/{pk}/"): {"enabled": False},
        ("POST", "/api/v1/maintenance-windows/"): {
            "name": f"m-{n}", "starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat()},
        ("PUT", "/api/v1/maintenance-windows/{pk}/"): {
            "name": f"m-{n}", "starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=2)).isoformat()},
        ("PATCH", "/api/v1/maintenance-windows/{pk}/"): {"name": f"m2-{n}"},
        ("POST", "/api/v1/clusters/"): {"definition": f"name: c-{n}\nsteps:\n  - {{id: a, satellite: echo}}\n"},
        ("PUT", "/api/v1/clusters/{pk}/"): {"definition": f"name: c-{n}\nsteps:\n  - {{id: b, satellite: echo}}\n"},
        ("POST", "/api/v1/clusters/{pk}/trigger/"): {"inputs": {}},
        ("POST", "/api/v1/satellites/{name}/execute/"): {"inputs": {"message": "x"}},
        ("POST", "/api/v1/secrets/"): {"name": f"S_{n}", "value": "v"},
        ("PUT", "/api/v1/secrets/{name}/"): {"value": "v2"},
        ("POST", "/api/v1/agents/"): {"name": f"ag-{n}", "prompt": "p", "model": "m"},
        ("PUT", "/api/v1/agents/{pk}/"): {"name": f"ag-{n}", "prompt": "p", "model": "m"},
        ("PATCH", "/api/v1/agents/{pk}/"): {"description": "d"},
        ("POST", "/api/v1/tasks/"): {"title": "t", "agent_id": "{agent}"},
        ("POST", "/api/v1/api-keys/"): {"name": f"k-{n}", "scopes": ["read"]},
        ("PATCH", "/api/v1/api-keys/{pk}/"): {"name": f"k2-{n}"},
        ("PATCH", "/api/v1/tenants/{slug}/"): {"name": f"T {n}"},
        ("POST", "/api/v1/tenants/{tenant_slug}/invitations/"): {"email": f"i{n}@example.com", "role": "member"},
        ("POST", "/api/v1/tenants/{tenant_slug}/members/"): {"user_id": "{outsider}", "role": "viewer"},
        ("PATCH", "/api/v1/tenants/{tenant_slug}/members/{user_id}/"): {"role": "viewer"},
        ("POST", "/api/v1/items/"): {"items": [{"id": f"it-{n}", "title": "t", "categories": ["c"]}]},
        ("PATCH", "/api/v1/items/{id}/"): {"title": f"t2-{n}"},
        ("POST", "/api/v1/interactions/"): {"interactions": [{"user_id": "u0", "item_id": "{item}", "type": "view"}]},
        ("POST", "/api/v1/recommendations/"): {"user_id": "u0", "count": 5},
        ("POST", "/api/v1/recommendation-models/train/"): {},
        ("PUT", "/api/v1/billing/subscription/"): {"plan": "hardening-pro"},
        ("POST", "/api/v1/files/"): _multipart_file(n),
        ("POST", "/api/v1/files/{file_pk}/shares/"): {"max_downloads": 3},
        ("POST", "/api/v1/uploads/"): RawBody(b"", "", {"HTTP_UPLOAD_LENGTH": "4"}),
        ("PATCH", "/api/v1/uploads/{pk}/"): RawBody(b"ab", "application/offset+octet-stream",
                                                     {"HTTP_UPLOAD_OFFSET": "0"}),
        ("POST", "/api/v1/hosts/"): {"name": f"nh-{n}", "address": "192.0.2.31", "username": "deploy",
                                     "host_key": OTHER_HOST_KEY},
        ("PATCH", "/api/v1/hosts/{pk}/"): {"port": 2222},
        ("POST", "/api/v1/projects/"): {"name": f"np-{n}", "host": "{host}", "directory": "/srv/new"},
        ("PATCH", "/api/v1/projects/{name}/"): {"enabled": False},
        ("POST", "/api/v1/reconcile/"): {},
    }
    no_body = {"DELETE", "GET", "HEAD", "OPTIONS"}
    if route.method in no_body:
        return None
    key = (route.method, route.template)
    if key in bodies:
        return bodies[key]
    # Actions on one object (check, pause, rotate, cancel, retry, acknowledge …) take no body.
    if route.method == "POST" and route.object_param and route.action not in ("create", "update"):
        return {}
    raise KeyError(f"no sample body for {route}")
