"""Share links: unguessable, digest-only, expiring, counted exactly, revocable, and public
without revealing anything else."""
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from files import services
from files.models import FileAccessLog, FileShare
from tests.conftest import bearer_client
from tests.files.conftest import concurrent_writers
from tests.files.factories import make_file

pytestmark = pytest.mark.django_db

CONTENT = b"%PDF-1.7 shared bytes"


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def file(tenant, owner):
    return make_file(tenant, CONTENT, name="plan.pdf", created_by=owner)


def share_path(response) -> str:
    url = response.json()["url"]
    assert url.startswith("http://testserver/s/")
    return url.removeprefix("http://testserver")


def test_a_share_is_shown_once_and_only_its_digest_is_stored(owner, tenant, file):
    client = bearer_client(owner, tenant)
    response = client.post(f"/api/v1/files/{file.pk}/shares", {"max_downloads": 2}, format="json")
    assert response.status_code == 201
    data = response.json()
    assert {"id", "url", "expires_at", "max_downloads", "downloads"} <= set(data)
    token = data["url"].rsplit("/", 1)[-1]
    assert len(token) >= 43  # 256 bits
    share = FileShare.objects.get(pk=data["id"])
    assert token not in share.token_digest and share.token_digest == services.share_token_digest(token)
    listed = client.get(f"/api/v1/files/{file.pk}/shares").json()["results"]
    assert [row["id"] for row in listed] == [data["id"]] and "url" not in listed[0]
    assert listed[0]["state"] == "active"


def test_the_public_link_needs_no_credential_and_is_counted_and_logged(owner, tenant, file):
    response = bearer_client(owner, tenant).post(f"/api/v1/files/{file.pk}/shares", {"max_downloads": 2},
                                                 format="json")
    path = share_path(response)
    anonymous = Client()
    first = anonymous.get(path)
    assert first.status_code == 200 and body(first) == CONTENT
    assert first["Content-Disposition"].startswith('attachment; filename="plan.pdf"')
    assert first["X-Content-Type-Options"] == "nosniff"
    assert first["Cache-Control"] == "private, no-store"
    assert body(anonymous.get(path)).startswith(b"%PDF")
    third = anonymous.get(path)
    assert third.status_code == 404 and third.json()["error"]["code"] == "NOT_FOUND"
    share = FileShare.objects.get(pk=response.json()["id"])
    assert share.downloads == 2 and services.share_state(share) == "exhausted"
    services.access_log_flush()
    log = list(FileAccessLog.objects.filter(via="share").values_list("share_id", "bytes", "status"))
    assert log == [(share.pk, len(CONTENT), 200)] * 2


def test_expired_revoked_and_unknown_links_are_the_same_404(owner, tenant, file):
    client = bearer_client(owner, tenant)
    expired, expired_token = services.share_create(file=file, expires_at=timezone.now() + timedelta(seconds=1))
    FileShare.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked = client.post(f"/api/v1/files/{file.pk}/shares", {}, format="json")
    assert client.delete(f"/api/v1/files/{file.pk}/shares/{revoked.json()['id']}").status_code == 204
    answers = [Client().get(path) for path in (f"/s/{expired_token}", share_path(revoked), "/s/" + "x" * 43,
                                               "/s/" + "x" * 500)]
    assert {r.status_code for r in answers} == {404}
    assert len({r.json()["error"]["message"] for r in answers}) == 1
    services.access_log_flush()
    assert not FileAccessLog.objects.exists()


def test_a_share_in_the_past_or_with_zero_downloads_is_a_400(owner, tenant, file):
    client = bearer_client(owner, tenant)
    for payload in ({"expires_at": "2000-01-01T00:00:00Z"}, {"max_downloads": 0}, {"max_downloads": "many"}):
        response = client.post(f"/api/v1/files/{file.pk}/shares", payload, format="json")
        assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_a_member_shares_only_their_own_files(tenant, owner, member, file):
    client = bearer_client(member, tenant)
    assert client.post(f"/api/v1/files/{file.pk}/shares", {}, format="json").status_code == 403
    own = make_file(tenant, b"mine", created_by=member)
    assert client.post(f"/api/v1/files/{own.pk}/shares", {}, format="json").status_code == 201
    assert client.delete(f"/api/v1/files/{file.pk}").status_code == 403


def test_a_share_of_another_tenants_file_is_404(outsider, other_tenant, file):
    client = bearer_client(outsider, other_tenant)
    assert client.post(f"/api/v1/files/{file.pk}/shares", {}, format="json").status_code == 404
    assert client.get(f"/api/v1/files/{file.pk}/shares").status_code == 404


@pytest.mark.django_db(transaction=True)
@concurrent_writers
def test_the_download_limit_holds_exactly_under_concurrent_downloads(tenant):
    file = make_file(tenant, CONTENT)
    share, token = services.share_create(file=file, max_downloads=3)
    barrier = threading.Barrier(8)
    served = []

    def download():
        try:
            barrier.wait()
            served.append(services.share_claim_download(token=token) is not None)
        finally:
            connection.close()

    threads = [threading.Thread(target=download) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(served) == [False] * 5 + [True] * 3
    share.refresh_from_db()
    assert share.downloads == 3


def test_ids_of_uuid_shape_that_are_no_uuid_are_404_not_500(owner, tenant, file):
    """The URL pattern takes 36 hex digits and dashes; ones that are no UUID name nothing."""
    client = bearer_client(owner, tenant)
    not_a_uuid = "c39Fb0C9bd-f0d3C0691f750CA757DC265cE"  # found by Schemathesis
    for path in (f"/api/v1/files/{file.pk}/shares/{not_a_uuid}", f"/api/v1/files/{not_a_uuid}/shares"):
        response = client.delete(path) if "shares/" in path else client.get(path)
        assert response.status_code == 404, response.content
        assert response.json()["error"]["code"] == "NOT_FOUND"
