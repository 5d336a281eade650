"""Recording security-relevant changes. Services call `audit_record`; views never do."""
from django.db import models

from core.api.request_context import current_request_id
from core.logging import SENSITIVE_KEY, redact
from core.models import AuditEvent


def _scrub(changes: dict) -> dict:
    """Drop anything that looks like a secret, then redact credential-looking values."""
    return redact({k: v for k, v in (changes or {}).items() if not SENSITIVE_KEY.search(str(k))})


def audit_record(
    *,
    action: str,
    target: models.Model,
    actor=None,
    tenant: models.Model | None = None,
    changes: dict | None = None,
) -> AuditEvent:
    """`actor` is a User, an API-key principal (anything with `key_id`), or None (system)."""
    user = actor if getattr(actor, "pk", None) is not None else None
    key_id = getattr(actor, "key_id", None)
    return AuditEvent.objects.create(
        tenant_id=tenant.pk if tenant is not None else None,
        actor=user,
        actor_api_key_id=key_id,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        changes=_scrub(changes or {}),
        request_id=current_request_id(),
    )
