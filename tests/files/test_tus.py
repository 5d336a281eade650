"""Resumable uploads (tus 1.0.0) driven by the real `tuspy` client against a live server:
complete, interrupted and resumed, checksum mismatch, quota, termination and expiry."""
import base64
import hashlib
import io
import os
import socket
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken
from tusclient import client as tus
from tusclient.exceptions import TusCommunicationError
from tusclient.uploader import Uploader

from files import uploads
from files.models import File, FileUploadPart, FileUploadSession, StorageUsage
from tests.factories import PlanFactory
from tests.files.conftest import stored_objects

pytestmark = pytest.mark.django_db(transaction=True)

DATA = os.urandom(700_000) + b"tail"
CHUNK = 128 * 1024


class Sha256Uploader(Uploader):
    """tuspy's checksum extension, with sha256 (the client's documented extension point)."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


class LyingUploader(Uploader):
    """Sends a sha256 of other bytes than the chunk's: the server must refuse the chunk (460)."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", lambda chunk: hashlib.sha256(b"not " + chunk))


@pytest.fixture
def endpoint(live_server):
    return f"{live_server.url}/api/v1/uploads"


@pytest.fixture
def auth(owner, tenant) -> dict:
    return {"Authorization": f"Bearer {AccessToken.for_user(owner)}", "X-Tenant": tenant.slug}


def tus_client(endpoint, auth):
    return tus.TusClient(endpoint, headers=auth)


def file_id_of(url, auth) -> str:
    head = requests.head(url, headers={**auth, "Tus-Resumable": "1.0.0"}, timeout=10)
    assert head.status_code == 200, head.content
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"]
    return head.headers["X-File-Id"]


def test_a_tuspy_upload_becomes_a_file_with_its_sha256(endpoint, auth, tenant, files_folder):
    uploader = tus_client(endpoint, auth).uploader(
        file_stream=io.BytesIO(DATA), chunk_size=CHUNK, metadata={"filename": "../big \u00fcpload.bin"},
    )
    uploader.upload()
    file = File.objects.get(pk=file_id_of(uploader.url, auth))
    assert file.tenant == tenant and file.size == len(DATA) and file.name == "big \u00fcpload.bin"
    assert file.sha256 == hashlib.sha256(DATA).hexdigest()
    assert [p.relative_to(files_folder).as_posix() for p in stored_objects(files_folder)] == [file.storage_key]
    assert (files_folder / file.storage_key).read_bytes() == DATA
    assert not FileUploadPart.objects.exists()
    assert StorageUsage.objects.get(tenant=tenant).bytes_used == len(DATA)


def test_with_sha256_checksums_every_chunk_is_verified(endpoint, auth):
    uploader = Sha256Uploader(client=tus_client(endpoint, auth), file_stream=io.BytesIO(DATA), chunk_size=CHUNK,
                              upload_checksum=True, metadata={"filename": "c.bin"})
    uploader.upload()
    assert File.objects.get(pk=file_id_of(uploader.url, auth)).sha256 == hashlib.sha256(DATA).hexdigest()


def test_a_checksum_mismatch_is_460_and_the_chunk_is_discarded(endpoint, auth, files_folder):
    uploader = LyingUploader(
        client=tus_client(endpoint, auth), file_stream=io.BytesIO(DATA), chunk_size=CHUNK, upload_checksum=True,
    )
    with pytest.raises(TusCommunicationError) as failure:
        uploader.upload()
    assert failure.value.status_code == 460
    session = FileUploadSession.objects.get()
    assert session.offset == 0 and not FileUploadPart.objects.exists() and stored_objects(files_folder) == []


def test_an_upload_stopped_part_way_resumes_from_the_servers_offset(endpoint, auth):
    first = tus_client(endpoint, auth).uploader(file_stream=io.BytesIO(DATA), chunk_size=CHUNK,
                                                metadata={"filename": "resumed.bin"})
    first.upload(stop_at=2 * CHUNK)  # the client stops (process killed, laptop closed…)
    assert FileUploadSession.objects.get().offset == 2 * CHUNK
    # A new client process knows only the upload's URL: HEAD tells it where to go on.
    second = tus_client(endpoint, auth).uploader(file_stream=io.BytesIO(DATA), chunk_size=CHUNK, url=first.url)
    assert second.offset == 2 * CHUNK
    second.upload()
    assert File.objects.get(pk=file_id_of(first.url, auth)).sha256 == hashlib.sha256(DATA).hexdigest()


def test_a_connection_cut_mid_chunk_keeps_what_arrived_and_tuspy_resumes(endpoint, auth):
    creation = requests.post(endpoint, headers={**auth, "Tus-Resumable": "1.0.0", "Upload-Length": str(len(DATA))},
                             timeout=10)
    assert creation.status_code == 201
    url = creation.headers["Location"]
    # A PATCH announcing the whole file whose connection dies after 300,000 bytes.
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as raw:
        head = (f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
                f"Authorization: {auth['Authorization']}\r\nX-Tenant: {auth['X-Tenant']}\r\n"
                f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
                f"Content-Length: {len(DATA)}\r\n\r\n")
        raw.sendall(head.encode() + DATA[:300_000])
        raw.shutdown(socket.SHUT_WR)
        raw.recv(65536)  # the server answers once it has read to the end of what was sent
    assert FileUploadSession.objects.get().offset == 300_000
    resumed = tus_client(endpoint, auth).uploader(file_stream=io.BytesIO(DATA), chunk_size=CHUNK, url=url)
    assert resumed.offset == 300_000
    resumed.upload()
    assert File.objects.get(pk=file_id_of(url, auth)).sha256 == hashlib.sha256(DATA).hexdigest()


def test_an_upload_past_the_quota_is_refused_at_creation_and_stores_nothing(endpoint, auth, tenant, files_folder):
    tenant.plan = PlanFactory(storage_bytes=len(DATA) - 1)
    tenant.save()
    uploader = tus_client(endpoint, auth).uploader(file_stream=io.BytesIO(DATA), chunk_size=CHUNK)
    with pytest.raises(TusCommunicationError) as failure:
        uploader.upload()
    assert failure.value.status_code == 413
    assert b"PAYLOAD_TOO_LARGE" in failure.value.response_content
    assert not FileUploadSession.objects.exists() and stored_objects(files_folder) == []


def test_termination_removes_the_partial_bytes_and_frees_the_quota(endpoint, auth, tenant, files_folder):
    uploader = tus_client(endpoint, auth).uploader(file_stream=io.BytesIO(DATA), chunk_size=CHUNK)
    uploader.upload(stop_at=CHUNK)
    assert StorageUsage.objects.get(tenant=tenant).bytes_used == len(DATA)  # reserved at creation
    assert len(stored_objects(files_folder)) == 1
    response = requests.delete(uploader.url, headers={**auth, "Tus-Resumable": "1.0.0"}, timeout=10)
    assert response.status_code == 204 and response.headers["Tus-Resumable"] == "1.0.0"
    assert stored_objects(files_folder) == [] and not FileUploadSession.objects.exists()
    assert StorageUsage.objects.get(tenant=tenant).bytes_used == 0
    assert requests.head(uploader.url, headers={**auth, "Tus-Resumable": "1.0.0"}, timeout=10).status_code == 404


def test_expired_uploads_are_purged_with_their_partial_bytes(endpoint, auth, tenant, files_folder):
    uploader = tus_client(endpoint, auth).uploader(file_stream=io.BytesIO(DATA), chunk_size=CHUNK)
    uploader.upload(stop_at=CHUNK)
    FileUploadSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    patch = requests.patch(uploader.url, data=DATA[CHUNK : 2 * CHUNK], timeout=10, headers={
        **auth, "Tus-Resumable": "1.0.0", "Upload-Offset": str(CHUNK),
        "Content-Type": "application/offset+octet-stream",
    })
    assert patch.status_code == 404
    assert uploads.upload_sessions_purge_expired() == 1
    assert stored_objects(files_folder) == [] and not FileUploadSession.objects.exists()
    assert StorageUsage.objects.get(tenant=tenant).bytes_used == 0


def test_the_protocol_is_enforced_with_tus_status_codes(endpoint, auth):
    options = requests.options(endpoint, timeout=10)
    assert options.status_code == 204
    assert options.headers["Tus-Version"] == "1.0.0"
    assert options.headers["Tus-Extension"] == "creation,expiration,checksum,termination"
    assert options.headers["Tus-Checksum-Algorithm"] == "sha256"
    tus_headers = {**auth, "Tus-Resumable": "1.0.0"}
    assert requests.post(endpoint, headers={**auth, "Upload-Length": "10"}, timeout=10).status_code == 412
    assert requests.post(endpoint, headers={**tus_headers, "Upload-Length": "-1"}, timeout=10).status_code == 400
    bad_metadata = {**tus_headers, "Upload-Length": "10", "Upload-Metadata": "filename %%%"}
    assert requests.post(endpoint, headers=bad_metadata, timeout=10).status_code == 400
    created = requests.post(endpoint, timeout=10, headers={
        **tus_headers, "Upload-Length": "10", "Upload-Metadata": "filename " + base64.b64encode(b"a.txt").decode(),
    })
    assert created.status_code == 201 and "Upload-Expires" in created.headers
    url = created.headers["Location"]
    patch = {**tus_headers, "Content-Type": "application/offset+octet-stream"}
    assert requests.patch(url, data=b"12345", headers={**patch, "Upload-Offset": "3"}, timeout=10).status_code == 409
    assert requests.patch(url, data=b"12345", timeout=10,
                          headers={**tus_headers, "Upload-Offset": "0"}).status_code == 415
    too_long = requests.patch(url, data=b"x" * 11, headers={**patch, "Upload-Offset": "0"}, timeout=10)
    assert too_long.status_code == 413
    bad_algorithm = {**patch, "Upload-Offset": "0", "Upload-Checksum": "md5 AAAA"}
    assert requests.patch(url, data=b"12345", headers=bad_algorithm, timeout=10).status_code == 400
    done = requests.patch(url, data=b"0123456789", headers={**patch, "Upload-Offset": "0"}, timeout=10)
    assert done.status_code == 204 and done.headers["Upload-Offset"] == "10"
    assert File.objects.get(pk=done.headers["X-File-Id"]).content_type == "text/plain"
    assert requests.patch(url, data=b"x", headers={**patch, "Upload-Offset": "10"}, timeout=10).status_code == 409


def test_uploads_are_tenant_scoped_and_policed(endpoint, auth, make_member, tenant, outsider, other_tenant):
    created = requests.post(endpoint, headers={**auth, "Tus-Resumable": "1.0.0", "Upload-Length": "5"}, timeout=10)
    url = created.headers["Location"]
    foreign = {"Authorization": f"Bearer {AccessToken.for_user(outsider)}", "X-Tenant": other_tenant.slug,
               "Tus-Resumable": "1.0.0"}
    assert requests.head(url, headers=foreign, timeout=10).status_code == 404
    assert requests.delete(url, headers=foreign, timeout=10).status_code == 404
    viewer = make_member(tenant, "viewer")
    as_viewer = {"Authorization": f"Bearer {AccessToken.for_user(viewer)}", "X-Tenant": tenant.slug,
                 "Tus-Resumable": "1.0.0", "Upload-Length": "5"}
    refused = requests.post(endpoint, headers=as_viewer, timeout=10)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
    member = make_member(tenant, "member")
    as_member = {**as_viewer, "Authorization": f"Bearer {AccessToken.for_user(member)}"}
    assert requests.delete(url, headers=as_member, timeout=10).status_code == 403  # not theirs
    anonymous = requests.post(endpoint, headers={"Tus-Resumable": "1.0.0", "Upload-Length": "5"}, timeout=10)
    assert anonymous.status_code == 401
