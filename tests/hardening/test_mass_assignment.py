"""Family 3: mass assignment through every create/update route, and no secret in any response.

Each write route is called twice inside rolled-back transactions: once with its plain sample
body (the control) and once with the same body plus every protected field set to a hostile
value. Fields the OpenAPI schema documents as writable for that operation are legitimate and
left out; for all others the written row must look exactly like the control's.
"""
import json
import uuid
from datetime import datetime

import pytest
from django.db import transaction
from drf_spectacular.generators import SchemaGenerator

from accounts.models import PersonalAccessToken, User
from apikeys.models import ApiKey
from monitoring.models import AlertChannel
from orchestration.models import Secret
from tenants.models import Membership, Tenant
from tests.hardening import figures
from tests.hardening.routes import RawBody, Route, all_routes, tenant_routes
from tests.hardening.test_cross_tenant import param_values, resolve_body
from tests.hardening.world import World, body_text

HOSTILE_ID = "00000000-dead-4bad-8bad-000000000001"
PAST = "2001-01-01T00:00:00Z"
COUNTERS = ("requests", "errors", "attempts", "consecutive_failures", "version", "member_count", "members",
            "members_up", "total_ms")
TIMESTAMPS = ("created_at", "updated_at", "last_used_at", "revoked_at", "rotated_at", "last_checked_at",
              "status_changed_at", "started_at", "finished_at", "joined_at", "acknowledged_at", "last_login")
REFERENCES = ("tenant", "tenant_id", "created_by", "created_by_id", "user", "user_id", "invited_by",
              "acknowledged_by", "plan", "cluster_version")
FLAGS = ("is_staff", "is_superuser", "rolled_up", "is_handler")
TEXT = ("digest", "public_id", "signing_salt", "ciphertext", "prefix", "key", "token", "signing_secret",
        "verification_status", "type", "kind_override", "trigger")


def hostile_body(world: World) -> dict:
    victim = world.victim
    body = {"id": HOSTILE_ID, "pk": HOSTILE_ID, "role": "owner", "status": "__hostile__"}
    body.update(dict.fromkeys(COUNTERS, 999999))
    body.update(dict.fromkeys(TIMESTAMPS, PAST))
    body.update({name: str(victim.tenant.pk) for name in REFERENCES})
    victim_owner = str(victim.principals["owner"].user.pk)
    body.update({"created_by": victim_owner, "user_id": victim_owner, "plan": "enterprise"})
    body.update(dict.fromkeys(FLAGS, True))
    body.update(dict.fromkeys(TEXT, "f" * 64))
    body.update({"verification_status": "verified", "type": "service"})
    return body


@pytest.fixture(scope="module")
def writable_fields() -> dict:
    """(METHOD, path) → property names the schema documents as writable in the request body."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    result = {}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            names = set()
            for media in content.values():
                ref = media.get("schema", {}).get("$ref", "")
                component = components.get(ref.rsplit("/", 1)[-1], {})
                names |= set(component.get("properties", {}))
            result[(method.upper(), path)] = names
    return result


def _row_values(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _written_row(route: Route, response, params: dict):
    """The row the call created or changed, read before the rollback."""
    model = route.model
    if route.object_param:
        lookup = getattr(route.view, "lookup_field", None) or route.object_param  # items: by external id
        return model.objects.filter(**{lookup: params[route.object_param]}).first()
    data = response.json() if response.status_code < 300 and response.content else {}
    names = {f.attname for f in model._meta.concrete_fields} | {"pk"}
    for field, lookup in (("id", "pk"), ("name", "name"), ("user_id", "user_id"), ("slug", "slug")):
        if lookup in names and isinstance(data, dict) and data.get(field):
            row = model.objects.filter(**{lookup: data[field]}).first()
            if row is not None:
                return row
    return None


def _send(client, method: str, path: str, body, read):
    with transaction.atomic():
        response = client.generic(method, path, json.dumps(body), content_type="application/json")
        row = read(response)
        values = _row_values(row) if row is not None else None
        transaction.set_rollback(True)
    return response, values


def _violations(route: str, control: dict | None, hostile: dict | None, sent: dict, writable: set) -> list[str]:
    if hostile is None:
        return []
    problems = []
    if str(hostile.get("id")) == HOSTILE_ID:
        problems.append(f"{route}: id taken from the body")
    for attname, value in hostile.items():
        name = attname[:-3] if attname.endswith("_id") else attname
        if name not in sent and attname not in sent:
            continue
        if name in writable or attname in writable or name in ("id", "name"):
            continue
        if name in TEXT or attname in TEXT:  # minted afresh on every write: only the sent value is wrong
            if str(value) == str(sent.get(attname, sent.get(name))):
                problems.append(f"{route}: {attname} taken from the body")
        elif isinstance(value, datetime):
            if value.year == 2001:
                problems.append(f"{route}: {attname} set to {value}")
        elif control is not None and attname in control and value != control[attname] and name not in TIMESTAMPS:
            problems.append(f"{route}: {attname} = {value!r} (control {control[attname]!r})")
        elif value in (999_999, True) and name in (*COUNTERS, *FLAGS) and (control or {}).get(attname) != value:
            problems.append(f"{route}: {attname} = {value!r}")
    return problems


def _stored_secrets() -> list[str]:
    digests = list(ApiKey.objects.values_list("digest", flat=True))
    digests += list(PersonalAccessToken.objects.values_list("digest", flat=True))
    digests += list(AlertChannel.objects.values_list("signing_salt", flat=True))
    digests += list(Secret.objects.values_list("ciphertext", flat=True))
    return [d for d in digests if d and len(d) >= 8]


@pytest.mark.parametrize("label", ["owner", "key:all"])
def test_protected_fields_are_never_written_through_the_api(world: World, writable_fields, label):
    principal = world.attacker.principals[label]
    extras = hostile_body(world)
    tried, problems, responses = 0, [], []
    for n, route in enumerate(r for r in tenant_routes() if r.method in ("POST", "PUT", "PATCH")):
        params = param_values(route, world.attacker)
        body = resolve_body(route, world.attacker, n, world.victim)
        if isinstance(body, RawBody):
            # A multipart upload (its one `file` part) or a tus request (headers and bytes): the
            # view reads no fields, so there is nothing to smuggle; cross_tenant covers these routes.
            continue
        path = route.template.format(**params)
        writable = writable_fields.get((route.method, route.template), set())
        read = lambda response, route=route, params=params: _written_row(route, response, params)  # noqa: E731
        control, control_row = _send(principal.client, route.method, path, body, read)
        sent = {**extras, **body}  # the sample body's own fields keep their valid values
        hostile, hostile_row = _send(principal.client, route.method, path, sent, read)
        tried += 1
        responses += [control, hostile]
        if hostile.status_code >= 500:
            problems.append(f"{route}: 5xx {body_text(hostile)[:200]}")
        if control.status_code < 300 and hostile.status_code >= 400:
            continue  # refusing the extra fields outright is fine too
        problems += _violations(str(route), control_row, hostile_row, sent, writable)
    leaked = _responses_with_secrets(world, responses)
    assert not problems, "\n".join(problems)
    assert not leaked, leaked
    figures.record(f"mass_assignment.tenant_routes.{label}", routes=tried, requests=tried * 2,
                   protected_fields_tried=len(extras), persisted=0, responses_with_secret_or_digest=0)


def _responses_with_secrets(world: World, responses) -> list[str]:
    """Secrets minted before these calls, and every stored digest/salt/ciphertext, never appear."""
    needles = _stored_secrets() + world.victim.secrets + world.attacker.secrets
    found = []
    for response in responses:
        text = body_text(response)
        found += [f"{response.status_code}: {needle[:6]}…" for needle in needles if needle in text]
    return found


def test_people_cannot_raise_their_own_rights(world: World):
    """Profile, personal tokens, new tenants and registration ignore protected fields."""
    person = world.attacker.principals["viewer"]
    extras = hostile_body(world)
    user = person.user
    anonymous = type(person.client)(raise_request_exception=False)
    calls = [
        (person.client.patch, "/api/v1/auth/me", {"name": "New Name"}),
        (person.client.post, "/api/v1/auth/tokens", {"name": "t"}),
        (person.client.post, "/api/v1/tenants", {"name": "Mine", "slug": f"mine-{uuid.uuid4().hex[:6]}"}),
        (anonymous.post, "/api/v1/auth/register",
         {"email": "newcomer@example.com", "password": "a-long-unusual-passphrase-91", "name": "N"}),
    ]
    responses = []
    for send, path, body in calls:
        # Fields the endpoint does not know are refused by name; the ones it knows as read-only
        # are accepted and ignored. So: send all, then again without those it named.
        first = send(path, {**extras, **body}, format="json")
        assert first.status_code == 400, body_text(first)[:200]
        named = set(first.json()["error"]["details"])
        assert named <= set(extras), named - set(extras)
        responses += [first, send(path, {**{k: v for k, v in extras.items() if k not in named}, **body},
                                  format="json")]
    assert [r.status_code for r in responses[1::2]] == [200, 201, 201, 201], [body_text(r)[:200] for r in responses]
    responses = responses[1::2] + responses[0::2]
    user.refresh_from_db()
    assert (user.is_staff, user.is_superuser, user.status, user.type) == (False, False, "active", "human")
    assert user.name == "New Name"
    token = PersonalAccessToken.objects.get(pk=responses[1].json()["id"])
    assert token.user_id == user.pk and token.digest != "f" * 64 and token.last_used_at is None
    created = Tenant.objects.get(slug=responses[2].json()["slug"])
    assert created.status == Tenant.Status.ACTIVE and str(created.pk) != HOSTILE_ID
    assert created.plan is None or created.plan.slug != "enterprise"
    assert Membership.objects.get(tenant=created, user=user).role == "owner"
    newcomer = User.objects.get(email="newcomer@example.com")
    assert (newcomer.is_staff, newcomer.is_superuser, newcomer.verification_status, newcomer.type) == (
        False, False, User.Verification.NOT_VERIFIED, User.Type.HUMAN)
    assert str(newcomer.pk) != HOSTILE_ID
    # Nothing anywhere took the hostile id, and the victim tenant is untouched.
    assert not User.objects.filter(pk=HOSTILE_ID).exists() and not Tenant.objects.filter(pk=HOSTILE_ID).exists()
    world.victim.tenant.refresh_from_db()
    assert world.victim.tenant.status == Tenant.Status.ACTIVE
    # The token response carries its own secret once, and nothing else secret.
    assert not _responses_with_secrets(world, responses)
    figures.record("mass_assignment.people", requests=len(responses), protected_fields_tried=len(extras), persisted=0)


def test_staff_fields_need_the_staff_api(world: World):
    """Member-role changes are the only role writes a tenant admin can make; they cannot mint owners above
    themselves, and no tenant route can set `is_staff`."""
    admin = world.attacker.principals["admin"]
    viewer = world.attacker.principals["viewer"].user
    slug = world.attacker.tenant.slug
    unknown = admin.client.patch(f"/api/v1/tenants/{slug}/members/{viewer.pk}", {"role": "viewer", "is_staff": True},
                                 format="json")
    assert unknown.status_code == 400 and "is_staff" in unknown.json()["error"]["details"], body_text(unknown)
    response = admin.client.patch(f"/api/v1/tenants/{slug}/members/{viewer.pk}", {"role": "owner"}, format="json")
    assert response.status_code == 403, body_text(response)
    viewer.refresh_from_db()
    assert not viewer.is_staff
    assert Membership.objects.get(tenant=world.attacker.tenant, user=viewer).role == "viewer"
    assert all(r.template.startswith("/api/admin/") for r in all_routes() if "staff" in r.view.__name__.lower())
