"""The access log is buffered like the usage meter: a download queues its row (no INSERT in its
path), a flush writes rows in bulk, a listing shows every download that ended, a replayed batch
is stored once, and a normal shutdown loses nothing."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apikeys.gateway.store import redis_client
from files import access_log, services, tasks
from files.models import FileAccessLog
from tests.conftest import bearer_client
from tests.files.factories import make_file

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
CONTENT = b"%PDF-1.7 logged bytes"
uses_redis = pytest.mark.skipif(not django_settings.REDIS_URL, reason="needs REDIS_URL")


@pytest.fixture
def file(tenant, owner):
    return make_file(tenant, CONTENT, created_by=owner)


def download(client, file, **headers) -> bytes:
    return b"".join(client.get(f"/api/v1/files/{file.pk}/content", **headers).streaming_content)


@pytest.fixture
def embedded(settings):
    """No Redis: the buffer ships straight to the table (the embedded default)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def test_a_download_queues_its_row_and_inserts_nothing(owner, tenant, file):
    client = bearer_client(owner, tenant)
    with CaptureQueriesContext(connection) as queries:
        assert download(client, file) == CONTENT
    assert not [q["sql"] for q in queries if "files_fileaccesslog" in q["sql"]]
    assert access_log.buffer.pending() == 1 and not FileAccessLog.objects.exists()
    assert services.access_log_flush() == 1
    row = FileAccessLog.objects.get()
    assert (row.via, row.user_id, row.bytes, row.status, row.tenant_id) == ("member", owner.pk, len(CONTENT), 200,
                                                                            tenant.pk)
    assert access_log.buffer.pending() == 0


def test_the_listing_shows_downloads_still_buffered(owner, tenant, file):
    client = bearer_client(owner, tenant)
    for _ in range(3):
        download(client, file)
    download(client, file, HTTP_RANGE="bytes=0-3")
    rows = client.get(f"/api/v1/files/{file.pk}/access-log").json()["results"]
    assert [(r["bytes"], r["status"]) for r in rows] == [(4, 206)] + [(len(CONTENT), 200)] * 3


@uses_redis
def test_with_redis_rows_wait_in_one_list_until_the_flush(owner, tenant, file):
    client = bearer_client(owner, tenant)
    download(client, file)
    download(client, file)
    assert access_log.buffer.ship() == 2  # what the web process's shipper thread does every half second
    assert redis_client().llen(access_log.buffer.buffer_key) == 2 and not FileAccessLog.objects.exists()
    assert services.access_log_flush() == 2
    assert FileAccessLog.objects.count() == 2 and not redis_client().exists(access_log.buffer.buffer_key)


def test_embedded_rows_ship_straight_to_the_table(embedded, owner, tenant, file):
    download(bearer_client(owner, tenant), file)
    assert access_log.buffer.ship() == 1
    assert FileAccessLog.objects.count() == 1


def test_a_replayed_batch_is_stored_once(tenant, file):
    access_log.record(tenant_id=tenant.pk, file_id=file.pk, via="share", status=200, sent=5, ip="192.0.2.1")
    [row] = access_log.buffer.buffered()
    services.access_log_store(rows=[row])
    services.access_log_store(rows=[row])  # a flush that died after its INSERT, replayed
    assert FileAccessLog.objects.count() == 1


def test_a_row_of_a_file_deleted_since_is_dropped_not_a_stuck_batch(owner, tenant, file):
    client = bearer_client(owner, tenant)
    other = make_file(tenant, b"%PDF-1.7 other", created_by=owner)
    download(client, file)
    download(client, other)
    services.file_delete(file=file)
    assert services.access_log_flush() >= 1
    assert list(FileAccessLog.objects.values_list("file_id", flat=True)) == [other.pk]
    assert access_log.buffer.pending() == 0


def test_rows_buffered_when_the_store_is_down_stay_queued(settings, tenant, file):
    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }}
    access_log.record(tenant_id=tenant.pk, file_id=file.pk, via="member", status=200, sent=1, ip=None)
    assert access_log.buffer.ship() == 0 and access_log.buffer.pending() == 1  # kept, retried on the next tick


@uses_redis
def test_a_normal_shutdown_ships_the_buffer(tenant, file):
    """A process that exits (SIGTERM handled, end of a command) ships what it buffered."""
    script = (
        "import django; django.setup()\n"
        "from files import access_log\n"
        f"access_log.record(tenant_id='{tenant.pk}', file_id='{file.pk}', via='share', status=200, sent=7,"
        " ip='198.51.100.7')\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "REDIS_URL": django_settings.REDIS_URL,
           "USAGE_BUFFER_AUTOFLUSH": "false"}  # no shipper thread: only the exit hook can ship it
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)
    assert redis_client().llen(access_log.buffer.buffer_key) == 1
    assert services.access_log_flush() == 1
    assert FileAccessLog.objects.get().ip == "198.51.100.7"


def test_beat_flushes_the_buffer_every_five_seconds(settings, tenant, file):
    entry = settings.CELERY_BEAT_SCHEDULE["files-flush-access-log"]
    assert entry == {"task": "files.tasks.flush_access_log", "schedule": 5.0}
    access_log.record(tenant_id=tenant.pk, file_id=file.pk, via="member", status=200, sent=3, ip=None)
    assert tasks.flush_access_log.name == entry["task"]
    assert tasks.flush_access_log.apply().get() == 1
    assert FileAccessLog.objects.get().bytes == 3
