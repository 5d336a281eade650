"""Factories and small builders for orchestration tests."""

import textwrap

import factory
from rest_framework.test import APIClient

from apikeys.services import api_key_create
from orchestration import services
from orchestration.models import Agent
from tests.factories import TenantFactory


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"agent-{n}")
    description = "Summarises things"
    prompt = "You are {{ title }}. Summarise: {{ input }}"
    model = "test-model"


def make_cluster(tenant, definition: str, actor=None):
    return services.cluster_create(tenant=tenant, definition=textwrap.dedent(definition), actor=actor)


def key_client(tenant, scopes) -> APIClient:
    """A client authenticated with a fresh API key of the tenant carrying `scopes`."""
    _key, secret = api_key_create(tenant=tenant, name="test key", scopes=list(scopes))
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client

