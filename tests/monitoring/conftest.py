import pytest

from tests.conftest import bearer_client
from tests.monitoring.servers import http_server


@pytest.fixture
def allow_private(settings):
    """Checks in these tests target servers on loopback."""
    settings.OUTBOUND_ALLOW_PRIVATE = True


@pytest.fixture
def server():
    with http_server() as srv:
        yield srv


@pytest.fixture
def operator(tenant, make_member):
    from tenants.policy import Role

    return make_member(tenant, Role.OPERATOR)


@pytest.fixture
def ops(operator, tenant):
    """An operator's API client in the tenant."""
    return bearer_client(operator, tenant)
