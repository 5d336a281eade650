"""Fixtures shared by every test: clients, the three-person cast, a real Celery worker."""
import os

import pytest
from django.core.cache import cache
from django.db import OperationalError, connections
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tenants.policy import Role
from tests.factories import MembershipFactory, TenantFactory, UserFactory

# The fuzzing and hardening families (docs/reliability.md) take most of the suite's time:
# marked `slow` by folder, so new files there join them; `make test-fast` skips them.
SLOW_FOLDERS = ("security", "hardening")
# The one test that takes about ten minutes (the whole-schema fuzzing) starts first in a parallel
# run (pytest -n), so it does not end with one worker still fuzzing while the others sit idle.
FIRST = ("security/test_schemathesis.py",)


def pytest_collection_modifyitems(config, items):
    tests_root = config.rootpath / "tests"
    for item in items:
        relative = item.path.relative_to(tests_root) if item.path.is_relative_to(tests_root) else None
        if relative is not None and relative.parts[0] in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: not item.nodeid.startswith(tuple(f"tests/{path}" for path in FIRST)))


@pytest.fixture(autouse=True)
def _clean_cache():
    """Rate-limit counters and cached lookups must not leak between tests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient(raise_request_exception=False)


def bearer_client(user, tenant=None) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    if tenant is not None:
        client.defaults["HTTP_X_TENANT"] = tenant.slug
    return client


@pytest.fixture
def tenant(db):
    return TenantFactory()


@pytest.fixture
def other_tenant(db):
    return TenantFactory()


@pytest.fixture
def make_member(db):
    def make(tenant, role=Role.MEMBER, **user_fields):
        return MembershipFactory(tenant=tenant, role=role, user=UserFactory(**user_fields)).user

    return make


@pytest.fixture
def owner(tenant, make_member):
    return make_member(tenant, Role.OWNER)


@pytest.fixture
def member(tenant, make_member):
    return make_member(tenant, Role.MEMBER)


@pytest.fixture
def outsider(other_tenant, make_member):
    """Owner of another tenant: must only ever see 404 on our objects."""
    return make_member(other_tenant, Role.OWNER)


@pytest.fixture
def live_worker(transactional_db, tmp_path, settings, monkeypatch):
    """A real Celery worker (threads) consuming from the configured broker."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    # Each worker thread has its own connection, which a real worker keeps between tasks; here
    # the threads go away with the fixture, so close connections after every task instead
    # (otherwise they linger and PostgreSQL refuses to drop the test database at the end).
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)

    if app.conf.broker_url.startswith("filesystem://"):
        folder = tmp_path / "broker"
        folder.mkdir()
        app.conf.broker_transport_options = {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
    app.conf.task_always_eager = False
    # Producers pooled by earlier tests (eager mode acquires one too) still point at the old
    # broker folder; reset the pools as Celery does after a fork, so we publish where it consumes.
    app._after_fork()
    with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=10):
        yield app


@pytest.fixture
def unreachable_database(transactional_db, monkeypatch):
    """Points the default connection at a database that does not answer, then restores it.

    On PostgreSQL (CI) the connection really goes to a closed port. SQLite's in-memory test
    database cannot be made unreachable without destroying it, so there the driver's
    connect error is raised instead.
    """
    connection = connections["default"]
    saved = dict(connection.settings_dict)
    if connection.vendor == "sqlite":
        def refuse(*args, **kwargs):
            raise OperationalError("unable to open database file")

        monkeypatch.setattr(connection, "cursor", refuse)
        monkeypatch.setattr(connection, "ensure_connection", refuse)
    else:
        connection.close()
        connection.settings_dict.update(HOST="127.0.0.1", PORT="1")
    yield
    monkeypatch.undo()
    if connection.vendor != "sqlite":
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
