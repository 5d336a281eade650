"""Recommendations test setup: the orchestration tests' SQLite patience (a worker thread trains
while the test thread reads), and a clean in-process model cache per test."""
import pytest

from recommendations import serving
from tests.orchestration.conftest import _sqlite_shared_cache_patience  # noqa: F401 (autouse fixture)


@pytest.fixture(autouse=True)
def _fresh_served_models():
    serving.models.clear()
    yield
    serving.models.clear()
