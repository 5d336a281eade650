"""One permission-matrix base for tenant-scoped endpoints.

A concrete class (named `Test…`) lists its endpoints as `Case`s and supplies a data factory;
the base runs every case for every caller and derives the expected status from the policy
table in `tenants.policy`, never from a table restated here:

- a person of each role (owner … viewer) in the tenant: the case's success code when
  `role_allows(role, action)`, else 403 `FORBIDDEN`;
- a key of each scope (read, write, execute, admin): success when `scopes_allow`, else 403;
- anonymous: 401 `AUTHENTICATION_FAILED`;
- the owner of another tenant, and that tenant's all-scopes key: 404 `NOT_FOUND` on our objects
  (an object path is probed from the caller's own tenant, a collection by naming our tenant);
  a key the policy refuses the action gets the 403 a missing id gets (no tenant is revealed);
- any member or key of a suspended tenant: 403 `FORBIDDEN`.

`make_data(tenant, actor)` creates what the paths and bodies name (`{slug}` is always the
tenant's slug); `actor` is the calling person (None for keys), so rows a member may only manage
when they created them are the caller's own — the own-rows rule has tests of its own.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apikeys import services as apikey_services
from tenants.models import Tenant
from tenants.policy import Action, Role, Scope, role_allows, scopes_allow
from tests.factories import MembershipFactory, TenantFactory, UserFactory

ROLES = [Role.OWNER, Role.ADMIN, Role.OPERATOR, Role.MEMBER, Role.VIEWER]
SCOPES = [s.value for s in Scope]
PLACEHOLDER = re.compile(r"\{\w+\}")
ERROR_CODES = {401: "AUTHENTICATION_FAILED", 403: "FORBIDDEN", 404: "NOT_FOUND"}


@dataclass(frozen=True)
class Case:
    name: str
    method: str  # "get", "post", …
    path: str  # "/api/v1/nodes/{node}": formatted with the factory's data and `slug`
    action: Action  # what the endpoint is documented to need
    success: int  # the exact status when the policy allows it
    body: dict | Callable[[dict], dict] | None = None  # a value "{name}" is the factory's `name`

    @property
    def names_an_object(self) -> bool:
        """True when the path names an object (or the tenant by slug) rather than a collection."""
        return "{" in self.path

    @property
    def names_the_tenant(self) -> bool:
        return "{slug}" in self.path


def policy_allows(action: Action, *, role: str | None = None, scopes=None) -> bool:
    """What the policy table says for a person's role, or (when `scopes` is given) a key."""
    return scopes_allow(scopes, action) if scopes is not None else role_allows(role, action)


def expected_for_role(role: str, case: Case) -> int:
    return case.success if policy_allows(case.action, role=role) else 403


def expected_for_scopes(scopes, case: Case) -> int:
    return case.success if policy_allows(case.action, scopes=scopes) else 403


def expected_for_foreign_key(scopes, case: Case) -> int:
    """A key of another tenant: 404, unless the policy refuses its scopes the action on any object
    (then the 403 a missing id gets too; a tenant named by slug is 404 before any policy check)."""
    if case.names_the_tenant or policy_allows(case.action, scopes=scopes):
        return 404
    return 403


def person_client(user, tenant: Tenant | None = None) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    if tenant is not None:
        client.defaults["HTTP_X_TENANT"] = tenant.slug
    return client


def key_client(tenant: Tenant, scopes) -> APIClient:
    _key, secret = apikey_services.api_key_create(tenant=tenant, name="matrix key", scopes=list(scopes))
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def member_of(tenant: Tenant, role: str):
    # JWTs need no password: skipping the hash keeps hundreds of cases fast.
    return MembershipFactory(tenant=tenant, role=role, user=UserFactory(password=None)).user


def _format(value: Any, values: dict) -> Any:
    """A body value that is exactly one placeholder ("{agent}") becomes the factory's value."""
    if isinstance(value, str) and PLACEHOLDER.fullmatch(value):
        return values[value[1:-1]]
    return value


def send(client: APIClient, case: Case, data: dict, **headers):
    values = {k: str(v) for k, v in data.items()}
    path = case.path.format(**values)
    body = case.body(data) if callable(case.body) else case.body
    body = {k: _format(v, values) for k, v in body.items()} if body is not None else None
    return getattr(client, case.method)(path, body, format="json", **headers)


def assert_status(response, expected: int, label: str) -> None:
    assert response.status_code == expected, (label, response.status_code, response.content[:300])
    if expected in ERROR_CODES:
        assert response.json()["error"]["code"] == ERROR_CODES[expected], (label, response.content[:300])


def _case_id(case: Case) -> str:
    return case.name


@pytest.mark.django_db
class PermissionMatrix:
    """Subclass as `Test…`, set `cases`, override `make_data`."""

    cases: ClassVar[list[Case]] = []

    def make_data(self, tenant: Tenant, actor) -> dict:
        """The objects the cases' paths and bodies name, created in `tenant` (by `actor`)."""
        return {}

    def pytest_generate_tests(self, metafunc):
        assert self.cases, f"{type(self).__name__} lists no cases"
        if "case" in metafunc.fixturenames:
            metafunc.parametrize("case", self.cases, ids=_case_id)
        if "role" in metafunc.fixturenames:
            metafunc.parametrize("role", ROLES, ids=str)
        if "scope" in metafunc.fixturenames:
            metafunc.parametrize("scope", SCOPES)

    def _data(self, tenant, actor) -> dict:
        member_of(tenant, Role.OWNER)  # the tenant always keeps an owner
        return {"slug": tenant.slug, **self.make_data(tenant, actor)}

    def test_each_role_gets_what_the_policy_allows(self, case, role):
        tenant = TenantFactory()
        caller = member_of(tenant, role)
        data = self._data(tenant, caller)
        response = send(person_client(caller, tenant), case, data)
        assert_status(response, expected_for_role(role, case), f"{role} {case.name}")

    def test_each_key_scope_gets_what_the_policy_allows(self, case, scope):
        tenant = TenantFactory()
        data = self._data(tenant, None)
        response = send(key_client(tenant, [scope]), case, data)
        assert_status(response, expected_for_scopes([scope], case), f"key:{scope} {case.name}")

    def test_anonymous_is_401(self, case):
        tenant = TenantFactory()
        data = self._data(tenant, None)
        assert_status(send(APIClient(raise_request_exception=False), case, data), 401, case.name)

    def test_another_tenant_gets_404(self, case):
        tenant, foreign = TenantFactory(), TenantFactory()
        data = self._data(tenant, None)
        outsider = member_of(foreign, Role.OWNER)
        # Objects are probed from the outsider's own tenant; collections by naming ours.
        person = person_client(outsider, foreign if case.names_an_object else tenant)
        assert_status(send(person, case, data), 404, f"outsider {case.name}")
        headers = {} if case.names_an_object else {"HTTP_X_TENANT": tenant.slug}
        response = send(key_client(foreign, SCOPES), case, data, **headers)
        assert_status(response, expected_for_foreign_key(SCOPES, case), f"foreign key {case.name}")

    def test_a_suspended_tenant_is_403(self, case):
        tenant = TenantFactory()
        caller = member_of(tenant, Role.OWNER)
        data = self._data(tenant, caller)
        key = key_client(tenant, SCOPES)
        Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.SUSPENDED)
        assert_status(send(person_client(caller, tenant), case, data), 403, f"owner {case.name}")
        assert_status(send(key, case, data), 403, f"key {case.name}")
