"""Platform records every domain writes and none owns: the audit log.

Nothing here imports a domain app. The audit record keeps the tenant's id rather than a
foreign key to `tenants.Tenant`: core sits below tenants, and an audit trail should outlive
what it describes. Its actor is `settings.AUTH_USER_MODEL` — Django's swappable user, the
same reference Django's own admin log uses — so the console can search by e-mail.
"""
import uuid

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """Who changed security-relevant state, when, under which request, and what changed.

    Written by services (never by views) through `core.audit.audit_record`, so the admin and
    the API are audited alike. `changes` holds before/after summaries and never secrets or
    digests.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The tenant the change happened in (None: platform-wide); an id, not a relation (see above).
    tenant_id = models.UUIDField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_api_key_id = models.UUIDField(null=True, blank=True)
    action = models.CharField(max_length=64, db_index=True)  # e.g. "api_key.revoke"
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    changes = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        # The table and index names it had in `tenants`, where its history began: the move
        # to core kept the rows (see core/migrations/0001_audit_event.py).
        db_table = "tenants_auditevent"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant_id", "-created_at"], name="tenants_audit_tenant_recent")]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"
