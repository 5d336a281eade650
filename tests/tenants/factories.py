"""Factories for tenant-side rows the shared factories do not cover."""
from datetime import timedelta

import factory
from django.utils import timezone

from apikeys.models import ApiKey
from tenants.models import Invitation
from tenants.policy import Role
from tests.factories import TenantFactory


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    tenant = factory.SubFactory(TenantFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    role = Role.MEMBER
    token_digest = factory.Sequence(lambda n: f"{n:064x}")
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


def api_key_for(tenant, scopes=("read",)) -> str:
    """A stored key of the tenant; returns the raw credential."""
    key = ApiKey(tenant=tenant, name="test key", scopes=list(scopes))
    raw = key.set_new_secret()
    key.save()
    return raw
