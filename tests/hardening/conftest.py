import pytest

from apikeys.gateway import metering
from core.storage_url import storage_from_url
from tests.hardening.world import build_world


@pytest.fixture
def world(db, settings, tmp_path):
    # The matrices send hundreds of calls per principal; limits are tested in tests/apikeys.
    settings.RATELIMIT_ENABLE = False
    # The files' bytes go to this test's own folder (the filesystem backend).
    settings.STORAGES = {**settings.STORAGES, "files": storage_from_url("", default_location=tmp_path / "files")}
    metering.meter.clear()
    built = build_world()
    yield built
    metering.meter.clear()
