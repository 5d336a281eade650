"""The embedded SQLite file is shared by the web process, the worker and beat: a transaction
that reads before it writes must wait for a concurrent writer (the busy timeout), not fail at
once with "database is locked" as SQLite's default DEFERRED transactions do in WAL mode."""
import sqlite3
import threading
import time

import pytest
from django.conf import settings
from django.db import connections, transaction
from django.db.backends.sqlite3.base import DatabaseWrapper

pytestmark = [
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3", reason="SQLite's locking"
    ),
    pytest.mark.django_db,  # lifts pytest-django's block on connections (ours is a separate file)
]


def _file_database(tmp_path) -> DatabaseWrapper:
    """A Django connection to a database file, configured exactly like the embedded default."""
    path = tmp_path / "shared.sqlite3"
    raw = sqlite3.connect(path)
    raw.executescript("PRAGMA journal_mode=WAL; CREATE TABLE counter (n INTEGER); INSERT INTO counter VALUES (0);")
    raw.close()
    default = settings.DATABASES["default"]
    config = {**default, "NAME": str(path), "OPTIONS": dict(default["OPTIONS"])}
    return DatabaseWrapper(config, alias="shared")


@pytest.fixture
def shared(tmp_path):
    db = _file_database(tmp_path)
    connections["shared"] = db  # so that transaction.atomic(using="shared") finds it
    yield db
    db.close()
    del connections["shared"]


def test_embedded_sqlite_takes_the_write_lock_when_a_transaction_begins():
    options = settings.DATABASES["default"]["OPTIONS"]
    assert options["transaction_mode"] == "IMMEDIATE"
    assert options["timeout"] >= 5


def test_a_read_then_write_transaction_waits_for_a_concurrent_writer(shared):
    db = shared
    other = sqlite3.connect(db.settings_dict["NAME"], isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process is writing
    other.execute("UPDATE counter SET n = n + 1")
    holding = threading.Event()

    def commit_later():
        holding.wait(5)
        time.sleep(0.5)  # keep the lock while our transaction starts
        other.execute("COMMIT")

    committer = threading.Thread(target=commit_later)
    committer.start()
    started = time.monotonic()
    try:
        holding.set()
        with transaction.atomic(using="shared"), db.cursor() as cursor:
            cursor.execute("SELECT n FROM counter")
            (seen,) = cursor.fetchone()
            cursor.execute("UPDATE counter SET n = %s", [seen + 10])
    finally:
        committer.join(10)
        other.close()
    waited = time.monotonic() - started
    with db.cursor() as cursor:
        cursor.execute("SELECT n FROM counter")
        assert cursor.fetchone() == (11,)  # ours ran after the other's commit, on its value
    assert 0.3 < waited < 10
