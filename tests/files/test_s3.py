"""The same files API on S3: moto's S3 server (a real S3 HTTP API) started on loopback."""
import hashlib
import io
import os
import uuid
from datetime import timedelta

import boto3
import pytest
from django.utils import timezone
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from rest_framework_simplejwt.tokens import AccessToken
from tusclient import client as tus

from core.storage_url import storage_from_url
from files import storage, tasks, uploads
from files.models import File, FileUploadPart, FileUploadSession
from tests.conftest import bearer_client
from tests.files.conftest import byteranges, upload

DATA = os.urandom(600_000)


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, settings):
    """A fresh bucket as the `files` storage, with a key prefix, like a production URL."""
    name = f"gs-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    client.create_bucket(Bucket=name)
    settings.STORAGES = {**settings.STORAGES, "files": storage_from_url(
        f"s3://{name}/groundstation?endpoint_url={s3_endpoint}&region=us-east-1&addressing_style=path",
        default_location=None, access_key="test", secret_key="test",
    )}
    return client, name


def objects(bucket) -> list[str]:
    client, name = bucket
    return [item["Key"] for item in client.list_objects_v2(Bucket=name).get("Contents", [])]


def body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.mark.django_db
def test_upload_ranged_download_and_delete_on_s3(bucket, owner, tenant):
    client = bearer_client(owner, tenant)
    data = upload(client, DATA, name="on-s3.bin").json()
    assert data["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert objects(bucket) == [f"groundstation/tenants/{tenant.pk}/files/{data['id']}"]
    s3, name = bucket
    grants = s3.get_object_acl(Bucket=name, Key=objects(bucket)[0])["Grants"]
    assert not [grant for grant in grants if "AllUsers" in grant["Grantee"].get("URI", "")]  # private
    url = f"/api/v1/files/{data['id']}/content"
    assert body(client.get(url)) == DATA
    ranged = client.get(url, HTTP_RANGE="bytes=1000-1999")
    assert ranged.status_code == 206 and body(ranged) == DATA[1000:2000]
    assert body(client.get(url, HTTP_RANGE="bytes=-5")) == DATA[-5:]
    several = client.get(url, HTTP_RANGE="bytes=10-19,500000-500099")
    assert several.status_code == 206 and byteranges(several, body(several)) == [
        ("application/octet-stream", f"bytes 10-19/{len(DATA)}", DATA[10:20]),
        ("application/octet-stream", f"bytes 500000-500099/{len(DATA)}", DATA[500000:500100]),
    ]
    assert client.delete(f"/api/v1/files/{data['id']}").status_code == 204
    assert objects(bucket) == []


@pytest.mark.django_db(transaction=True)
def test_a_tus_upload_on_s3_is_assembled_from_its_parts(bucket, live_server, owner, tenant):
    auth = {"Authorization": f"Bearer {AccessToken.for_user(owner)}", "X-Tenant": tenant.slug}
    uploader = tus.TusClient(f"{live_server.url}/api/v1/uploads", headers=auth).uploader(
        file_stream=io.BytesIO(DATA), chunk_size=200_000, metadata={"filename": "parts.bin"},
    )
    uploader.upload()
    file = File.objects.get()
    assert file.sha256 == hashlib.sha256(DATA).hexdigest()
    assert objects(bucket) == [f"groundstation/{file.storage_key}"]  # the parts are gone
    s3, name = bucket
    assert s3.get_object(Bucket=name, Key=f"groundstation/{file.storage_key}")["Body"].read() == DATA


@pytest.mark.django_db
def test_recovery_on_s3_reassembles_and_removes_what_no_row_names(bucket, owner, tenant):
    """The state a crash mid-assembly leaves (every part recorded, a half-written file object, a
    stray part no row names, a stale claim), repaired by the beat purge."""
    session = uploads.upload_session_create(tenant=tenant, length=len(DATA), name="crash.bin", created_by=owner)
    uploads.upload_session_append(session=session, offset=0, body=io.BytesIO(DATA[:400_000]), body_length=400_000)
    last = storage.part_key(tenant.pk, session.pk, 400_000)
    storage.save(last, io.BytesIO(DATA[400_000:]))
    FileUploadPart.objects.create(session=session, offset=400_000, size=len(DATA) - 400_000, storage_key=last)
    FileUploadSession.objects.filter(pk=session.pk).update(
        offset=len(DATA), assembly_claimed_at=timezone.now() - uploads.ASSEMBLY_LEASE - timedelta(seconds=1))
    storage.save(storage.part_key(tenant.pk, session.pk, 0), io.BytesIO(b"a part no row names"))
    storage.save(storage.file_key(tenant.pk, session.pk), io.BytesIO(DATA[:1000]))  # half-written
    assert len(objects(bucket)) == 4
    tasks.purge_expired_uploads()
    file = File.objects.get()
    assert file.sha256 == hashlib.sha256(DATA).hexdigest() and not FileUploadPart.objects.exists()
    assert objects(bucket) == [f"groundstation/{file.storage_key}"]
