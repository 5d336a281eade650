"""The one role × action policy table, used by API permissions, the admin and the tests.

A person acts through their membership role; an API key acts through its scopes. Every
tenant-scoped endpoint names the `Action` it needs; `allows()` answers for either principal.
"""
from dataclasses import dataclass
from enum import StrEnum

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner"
    ADMIN = "admin"
    OPERATOR = "operator"
    MEMBER = "member"
    VIEWER = "viewer"


ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.OPERATOR: 2, Role.ADMIN: 3, Role.OWNER: 4}


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"
    ADMIN = "admin"


class Action(StrEnum):
    READ = "read"  # see anything in the tenant
    WRITE = "write"  # create and manage own resources (clusters, agents, tasks)
    OPERATE = "operate"  # manage nodes, checks, groups, alert channels; acknowledge incidents
    EXECUTE = "execute"  # trigger, execute, cancel and retry runs
    ADMINISTER = "administer"  # members, invitations, API keys, tenant settings
    MANAGE_BILLING = "manage_billing"  # change the plan, cancel the subscription
    OWN = "own"  # delete or transfer the tenant
    # Deployments (SPEC §4, itsUP's roles): viewers read and see status (READ); operators also
    # read remote logs and restart services; admins also deploy and configure hosts and projects.
    OPERATE_STACKS = "operate_stacks"  # remote logs, restarts
    DEPLOY = "deploy"  # deploy a project, reconcile
    CONFIGURE_DEPLOYMENTS = "configure_deployments"  # hosts, projects, the deploy key


@dataclass(frozen=True)
class Rule:
    min_role: Role
    scope: Scope | None  # None: no API key may do it


POLICY: dict[Action, Rule] = {
    Action.READ: Rule(Role.VIEWER, Scope.READ),
    Action.WRITE: Rule(Role.MEMBER, Scope.WRITE),
    Action.OPERATE: Rule(Role.OPERATOR, Scope.WRITE),
    Action.EXECUTE: Rule(Role.OPERATOR, Scope.EXECUTE),
    Action.ADMINISTER: Rule(Role.ADMIN, Scope.ADMIN),
    Action.MANAGE_BILLING: Rule(Role.ADMIN, Scope.ADMIN),
    Action.OWN: Rule(Role.OWNER, None),
    Action.OPERATE_STACKS: Rule(Role.OPERATOR, Scope.EXECUTE),
    Action.DEPLOY: Rule(Role.ADMIN, Scope.EXECUTE),
    Action.CONFIGURE_DEPLOYMENTS: Rule(Role.ADMIN, Scope.ADMIN),
}


def role_at_least(role: str | None, minimum: str) -> bool:
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(minimum)]


def role_allows(role: str | None, action: Action) -> bool:
    return role_at_least(role, POLICY[action].min_role)


def scopes_allow(scopes, action: Action) -> bool:
    """Any scope lets a key read; otherwise the action's own scope is required."""
    scopes = set(scopes or ())
    if action == Action.READ:
        return bool(scopes)
    rule = POLICY[action]
    return rule.scope is not None and rule.scope in scopes


def allows(context, action: Action) -> bool:
    """Whether a tenant context (`core.api.tenancy.TenantContext`: a key's scopes or a role) may."""
    return scopes_allow(context.scopes, action) if context.is_key else role_allows(context.role, action)


def requirement(action: Action, *, is_key: bool) -> str:
    """What a refused caller lacks, in words for the 403 message (from the table above)."""
    rule = POLICY[action]
    if is_key:
        if rule.scope is None:
            return f"No API key may do this; it needs a person with the {rule.min_role} role."
        if action == Action.READ:
            return "This API key needs at least one scope."
        return f"This API key needs the {rule.scope} scope."
    if rule.min_role == Role.OWNER:
        return "This action needs the owner role."
    return f"This action needs the {rule.min_role} role or higher."


def role_above(role: str) -> Role:
    """The next stronger role (the weakest one that manages everyone's resources, for a member)."""
    rank = ROLE_RANK[Role(role)] + 1
    return next(candidate for candidate, value in ROLE_RANK.items() if value == rank)


def scopes_for_role(role: str) -> set[str]:
    """The scopes a person of this role may put on a key they mint."""
    return {rule.scope.value for action, rule in POLICY.items() if rule.scope and role_allows(role, action)}


# An API key is not a member: it may bring people in (with the `admin` scope) but never make
# administrators, who outlive the key and manage keys themselves. Below that, only a role
# whose rights the key's own scopes cover, so no member it makes can do more than the key.
KEY_ROLE_CEILING = Role.MEMBER


def key_role_ceiling(scopes) -> Role:
    """The strongest role a key with these scopes may grant, change or remove."""
    held = {*scopes, Scope.READ.value}  # every key reads
    allowed = [
        role for role in Role
        if role_at_least(KEY_ROLE_CEILING, role) and scopes_for_role(role) <= held
    ]
    return max(allowed, key=lambda role: ROLE_RANK[role])
