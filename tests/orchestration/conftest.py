"""Orchestration test setup.

The SQLite test database is in memory with a *shared cache*, where table locks are not subject
to the busy timeout: a reader in the test thread fails at once with "database table is locked"
while a worker thread writes. The production file database (WAL + busy timeout) waits instead.
This shim gives every connection of these tests the same patience: a statement that hits a
shared-cache lock is retried briefly (a failed SQLITE_LOCKED statement has had no effect).
"""

import time

import pytest
from django.db import OperationalError, connections
from django.db.backends.signals import connection_created


def _patient(execute, sql, params, many, context):
    for attempt in range(200):
        try:
            return execute(sql, params, many, context)
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == 199:
                raise
            time.sleep(0.01)


def _install(connection, **kwargs):
    if connection.vendor == "sqlite" and _patient not in connection.execute_wrappers:
        connection.execute_wrappers.append(_patient)


@pytest.fixture(autouse=True)
def _sqlite_shared_cache_patience():
    connection_created.connect(_install)
    _install(connections["default"])
    yield
    connection_created.disconnect(_install)
    if _patient in connections["default"].execute_wrappers:
        connections["default"].execute_wrappers.remove(_patient)
