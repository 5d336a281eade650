"""Races through the real HTTP server (threads against `live_server`): uploads that together pass
the quota (simple and tus: one 413, nothing stored for it) and downloads of a share racing for
its last allowed downloads (exactly that many served)."""
import threading

import pytest
import requests
from rest_framework_simplejwt.tokens import AccessToken

from files import services
from files.models import File, FileUploadSession, StorageUsage
from tests.factories import PlanFactory
from tests.files.conftest import concurrent_writers, stored_objects
from tests.files.factories import make_file

pytestmark = [pytest.mark.django_db(transaction=True), concurrent_writers]

SIZE = 600_000


def race(count: int, request) -> list:
    """`count` threads released together, each making one request; their responses."""
    barrier = threading.Barrier(count)
    responses = [None] * count

    def run(index):
        barrier.wait()
        responses[index] = request(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


@pytest.fixture
def auth(owner, tenant) -> dict:
    tenant.plan = PlanFactory(storage_bytes=SIZE + SIZE // 2)  # room for one of two
    tenant.save()
    return {"Authorization": f"Bearer {AccessToken.for_user(owner)}", "X-Tenant": tenant.slug}


def test_two_simple_uploads_that_together_pass_the_quota_one_is_413(live_server, auth, tenant, files_folder):
    responses = race(2, lambda index: requests.post(
        f"{live_server.url}/api/v1/files", headers=auth, timeout=30,
        files={"file": (f"racer-{index}.bin", bytes([index]) * SIZE)},
    ))
    assert sorted(r.status_code for r in responses) == [201, 413]
    [refused] = [r for r in responses if r.status_code == 413]
    assert refused.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    [file] = File.objects.all()
    assert [p.relative_to(files_folder).as_posix() for p in stored_objects(files_folder)] == [file.storage_key]
    assert StorageUsage.objects.get(tenant=tenant).bytes_used == SIZE


def test_two_tus_uploads_that_together_pass_the_quota_one_is_413(live_server, auth, tenant, files_folder):
    responses = race(2, lambda index: requests.post(
        f"{live_server.url}/api/v1/uploads", timeout=30,
        headers={**auth, "Tus-Resumable": "1.0.0", "Upload-Length": str(SIZE)},
    ))
    assert sorted(r.status_code for r in responses) == [201, 413]
    assert FileUploadSession.objects.count() == 1 and stored_objects(files_folder) == []
    assert StorageUsage.objects.get(tenant=tenant).bytes_used == SIZE


def test_concurrent_downloads_of_a_share_serve_exactly_its_limit(live_server, tenant):
    content = b"%PDF-1.7 " + b"x" * 300_000
    share, token = services.share_create(file=make_file(tenant, content), max_downloads=3)
    responses = race(8, lambda _index: requests.get(f"{live_server.url}/s/{token}", timeout=30))
    served = [r for r in responses if r.status_code == 200]
    assert len(served) == 3 and all(r.content == content for r in served)
    assert sorted(r.status_code for r in responses) == [200] * 3 + [404] * 5
    share.refresh_from_db()
    assert share.downloads == 3
    services.access_log_flush()
    assert share.file.access_log.filter(status=200).count() == 3
