"""Each pytest-xdist worker gets its own Redis database and embedded broker folder.

Loaded with `-p` (pyproject.toml), so its hook runs before pytest-django loads the settings:
the test database already gets a `_gwN` suffix from pytest-django, but the cache, rate limits,
channel layer and Celery broker all live in `REDIS_URL`'s database, and the suite empties the
cache (FLUSHDB) around every test. Worker N therefore uses database (n + N) mod 16 of the
configured URL, and `var/test-broker-gwN` as the filesystem broker when there is no Redis.
The changed variables are in `os.environ`, so processes the tests start inherit them.
"""
import os
from urllib.parse import urlsplit, urlunsplit

import pytest

REDIS_DATABASES = 16  # Redis' default `databases`


def worker_index() -> int | None:
    """0 for gw0, 1 for gw1…; None outside xdist (a serial run or the controller)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker.removeprefix("gw")) if worker.startswith("gw") else None


def shifted_redis_url(url: str, index: int) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return url
    database = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(database + index) % REDIS_DATABASES}"))


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    index = worker_index()
    if index is None:
        return
    if index >= REDIS_DATABASES and os.environ.get("REDIS_URL"):
        raise pytest.UsageError(f"at most {REDIS_DATABASES} xdist workers: each needs its own Redis database")
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        if os.environ.get(name):
            os.environ[name] = shifted_redis_url(os.environ[name], index)
    folder = os.environ.get("CELERY_BROKER_FOLDER") or "var/test-broker"
    os.environ["CELERY_BROKER_FOLDER"] = f"{folder}-gw{index}"
