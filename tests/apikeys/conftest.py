import pytest
from rest_framework.test import APIClient

from apikeys.gateway import metering
from apikeys.gateway import middleware as gateway


@pytest.fixture(autouse=True)
def _fresh_gateway():
    """Each test starts with an empty usage buffer and a limiter that believes its store is up."""
    metering.meter.clear()
    gateway.health.down_since = None
    gateway.health.retry_at = 0.0
    yield
    metering.meter.clear()


def key_client(secret: str, *, header: str = "bearer") -> APIClient:
    client = APIClient(raise_request_exception=False)
    if header == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    else:
        client.credentials(HTTP_X_API_KEY=secret)
    return client
