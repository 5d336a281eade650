"""A tus upload survives the death of the process assembling it.

The last chunk is sent by a separate Python process (the web process, in effect) that is
killed with SIGKILL — no `finally`, no exit hook — at a real boundary of the assembly: while
the file's object is half-written, after it is written but before its row is committed, and
after the commit but before the parts are deleted. Then HEAD or the beat purge must finish the
job: one file with the right bytes and sha256, no part and no orphan object left, the quota
counted once.
"""
import hashlib
import io
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone

from files import tasks, uploads
from files.models import File, FileUploadPart, FileUploadSession, StorageUsage
from tests.conftest import bearer_client
from tests.files.conftest import concurrent_writers, stored_objects

pytestmark = [pytest.mark.django_db(transaction=True), concurrent_writers]  # a second process: PostgreSQL

ROOT = Path(__file__).resolve().parents[2]
DATA = os.urandom(3 * 400_000)
CHUNK = 400_000

KILL_AT = {
    # While the file's object is being written: after half of the bytes went through.
    "writing": """
real = storage.ConcatenatingReader.read
def read(self, size=-1):
    out = real(self, size)
    self.copied = getattr(self, "copied", 0) + len(out)
    if self.copied > len(DATA) // 2:
        die()
    return out
storage.ConcatenatingReader.read = read
""",
    # The object is complete; the row is about to be inserted.
    "before-commit": "File.save = lambda *args, **kwargs: die()",
    # The row is committed; the first part is about to be deleted.
    "after-commit": """
real = storage.delete
storage.delete = lambda key: die() if "/uploads/" in key else real(key)
""",
}

CHILD = """
import os, signal, sys
import django
django.setup()
from files import storage, uploads
from files.models import File, FileUploadSession
DATA = open(sys.argv[2], "rb").read()
def die():
    os.kill(os.getpid(), signal.SIGKILL)
{kill_at}
session = FileUploadSession.objects.get(pk=sys.argv[1])
uploads.upload_session_append(session=session, offset=session.offset, body=io.BytesIO(DATA[session.offset:]),
                              body_length=len(DATA) - session.offset)
"""


def database_url() -> str:
    db = connection.settings_dict
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{quote(db['USER'], safe='')}:{quote(db['PASSWORD'] or '', safe='')}@{host}/{db['NAME']}"


@pytest.fixture
def session(tenant, owner):
    """An upload that has everything but its last chunk."""
    session = uploads.upload_session_create(tenant=tenant, length=len(DATA), name="crash.bin", created_by=owner)
    for offset in range(0, len(DATA) - CHUNK, CHUNK):
        uploads.upload_session_append(session=session, offset=offset, body=io.BytesIO(DATA[offset:offset + CHUNK]),
                                      body_length=CHUNK)
    return session


def send_last_chunk_and_die(session, boundary: str, files_folder, tmp_path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(DATA)
    script = "import io\n" + CHILD.format(kill_at=KILL_AT[boundary])
    env = {**os.environ, "DATABASE_URL": database_url(), "FILES_STORAGE_URL": f"file://{files_folder}",
           "DJANGO_SETTINGS_MODULE": "config.settings"}
    child = subprocess.run([sys.executable, "-c", script, str(session.pk), str(data)], cwd=ROOT, env=env,
                           capture_output=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-3000:]


def head(owner, tenant, session):
    return bearer_client(owner, tenant).head(f"/api/v1/uploads/{session.pk}", HTTP_TUS_RESUMABLE="1.0.0")


def lease_passes(session) -> None:
    FileUploadSession.objects.filter(pk=session.pk).update(
        assembly_claimed_at=timezone.now() - uploads.ASSEMBLY_LEASE - timedelta(seconds=1))


def assert_one_good_file(session, tenant, files_folder) -> File:
    file = File.objects.get()
    assert file.pk == session.pk and file.sha256 == hashlib.sha256(DATA).hexdigest() and file.size == len(DATA)
    assert FileUploadSession.objects.get().file_id == file.pk
    assert [p.relative_to(files_folder).as_posix() for p in stored_objects(files_folder)] == [file.storage_key]
    assert (files_folder / file.storage_key).read_bytes() == DATA
    assert not FileUploadPart.objects.exists()
    assert StorageUsage.objects.get(tenant=tenant).bytes_used == len(DATA)
    return file


def test_a_process_killed_while_writing_the_file_is_recovered_by_the_next_head(
        session, owner, tenant, files_folder, tmp_path):
    send_last_chunk_and_die(session, "writing", files_folder, tmp_path)
    left = FileUploadSession.objects.get()
    assert left.offset == len(DATA) and left.file_id is None and left.assembly_claimed_at is not None
    half = files_folder / f"tenants/{tenant.pk}/files/{session.pk}"
    assert half.exists() and half.stat().st_size < len(DATA)  # the half-written object
    # Within the lease the assembler may still be alive: HEAD tells the offset and waits.
    response = head(owner, tenant, session)
    assert response.status_code == 200 and "X-File-Id" not in response and not File.objects.exists()
    lease_passes(session)
    response = head(owner, tenant, session)
    assert response.status_code == 200 and response["X-File-Id"] == str(session.pk)
    assert response["Upload-Offset"] == str(len(DATA))
    assert_one_good_file(session, tenant, files_folder)


def test_a_process_killed_before_the_commit_is_recovered_by_the_beat_purge(session, tenant, files_folder,
                                                                          tmp_path):
    send_last_chunk_and_die(session, "before-commit", files_folder, tmp_path)
    assert not File.objects.exists() and (files_folder / f"tenants/{tenant.pk}/files/{session.pk}").exists()
    # Expired meanwhile: fully received, it is assembled, not purged.
    FileUploadSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    lease_passes(session)
    assert tasks.purge_expired_uploads() == 0
    assert_one_good_file(session, tenant, files_folder)


def test_a_process_killed_after_the_commit_leaves_parts_that_the_purge_removes(session, tenant, files_folder,
                                                                               tmp_path):
    send_last_chunk_and_die(session, "after-commit", files_folder, tmp_path)
    assert File.objects.exists() and FileUploadPart.objects.count() == 3
    assert FileUploadSession.objects.get().file_id == session.pk  # finished, whatever is left over
    assert tasks.purge_expired_uploads() == 0

    assert_one_good_file(session, tenant, files_folder)


def test_a_part_stored_by_a_patch_that_died_before_recording_it_is_removed_at_completion(
        session, tenant, files_folder):
    stray = files_folder / f"tenants/{tenant.pk}/uploads/{session.pk}/stray-part"
    stray.write_bytes(b"bytes no row names")
    session.refresh_from_db()
    uploads.upload_session_append(session=session, offset=session.offset, body=io.BytesIO(DATA[session.offset:]),
                                  body_length=len(DATA) - session.offset)
    assert_one_good_file(session, tenant, files_folder)


def test_terminating_removes_stray_parts_and_a_half_written_file(session, tenant, files_folder):
    stray = files_folder / f"tenants/{tenant.pk}/uploads/{session.pk}/stray-part"
    stray.write_bytes(b"bytes no row names")
    (files_folder / f"tenants/{tenant.pk}/files").mkdir(parents=True)
    (files_folder / f"tenants/{tenant.pk}/files/{session.pk}").write_bytes(b"half")
    uploads.upload_session_terminate(session=session)
    assert stored_objects(files_folder) == [] and StorageUsage.objects.get(tenant=tenant).bytes_used == 0
