import pytest

from apikeys.gateway import metering
from tests.hardening.world import build_world


@pytest.fixture
def world(db, settings):
    # The matrices send hundreds of calls per principal; limits are tested in tests/apikeys.
    settings.RATELIMIT_ENABLE = False
    metering.clear()
    built = build_world()
    yield built
    metering.clear()
