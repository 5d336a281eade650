"""Tenant API keys: server-to-server credentials with scopes, expiry and an optional rate."""
from django.conf import settings
from django.db import models

from apikeys.credentials import CredentialModel
from tenants.models import Tenant


def default_scopes() -> list[str]:
    return ["read"]


class ApiKey(CredentialModel):
    PREFIX = "gsk"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    scopes = models.JSONField(default=default_scopes)
    rate_limit = models.CharField(max_length=20, blank=True, help_text='Optional, e.g. "100/m".')
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
