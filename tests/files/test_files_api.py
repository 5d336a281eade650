"""Simple uploads, metadata, deletes and streamed downloads (Range, ETag, safe headers)."""
import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from files import services
from files.models import File, FileAccessLog, StorageUsage
from tests.conftest import bearer_client
from tests.factories import PlanFactory
from tests.files.conftest import byteranges, stored_objects, upload

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def client(owner, tenant):
    return bearer_client(owner, tenant)


def test_an_upload_answers_201_with_the_sha256_and_stores_under_the_platforms_key(client, tenant, owner,
                                                                                 files_folder):
    response = upload(client, PDF, name="../../Q3 report.pdf")
    assert response.status_code == 201, response.content
    data = response.json()
    assert set(data) == {"id", "name", "size", "content_type", "sha256", "created_at", "created_by"}
    assert data["name"] == "Q3 report.pdf"
    assert data["size"] == len(PDF)
    assert data["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert data["content_type"] == "application/pdf"
    assert data["created_by"] == str(owner.pk)
    [stored] = stored_objects(files_folder)
    assert stored.relative_to(files_folder).as_posix() == f"tenants/{tenant.pk}/files/{data['id']}"
    assert stored.read_bytes() == PDF


def test_the_clients_claimed_type_is_ignored_for_markup(client):
    page = SimpleUploadedFile("x.html", b"<html><script>alert(1)</script>", content_type="text/html")
    data = client.post("/api/v1/files", {"file": page}, format="multipart").json()
    assert data["content_type"] == "text/plain"
    response = client.get(f"/api/v1/files/{data['id']}/content")
    assert response["Content-Type"] == "text/plain"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in response["Content-Security-Policy"]


def test_list_and_get_show_only_the_tenants_files(client, tenant, outsider, other_tenant):
    mine = upload(client, b"mine").json()
    upload(bearer_client(outsider, other_tenant), b"theirs")
    listing = client.get("/api/v1/files").json()
    assert [row["id"] for row in listing["results"]] == [mine["id"]]
    assert client.get(f"/api/v1/files/{mine['id']}").json() == mine
    foreign = bearer_client(outsider, other_tenant)
    assert foreign.get(f"/api/v1/files/{mine['id']}").status_code == 404
    assert foreign.get(f"/api/v1/files/{mine['id']}/content").status_code == 404
    assert foreign.delete(f"/api/v1/files/{mine['id']}").status_code == 404


def test_delete_removes_the_bytes_and_frees_the_quota(client, tenant, files_folder):
    data = upload(client, PDF).json()
    assert StorageUsage.objects.get(tenant=tenant).bytes_used == len(PDF)
    assert client.delete(f"/api/v1/files/{data['id']}").status_code == 204
    assert stored_objects(files_folder) == []
    assert not File.objects.filter(pk=data["id"]).exists()
    assert StorageUsage.objects.get(tenant=tenant).bytes_used == 0
    assert client.get(f"/api/v1/files/{data['id']}").status_code == 404


def test_a_download_streams_the_whole_file_with_its_etag(client):
    data = upload(client, PDF, name="r\u00e9sum\u00e9.pdf").json()
    response = client.get(f"/api/v1/files/{data['id']}/content")
    assert response.status_code == 200 and response.streaming
    assert body(response) == PDF
    assert response["Content-Length"] == str(len(PDF))
    assert response["ETag"] == f'"{data["sha256"]}"'
    assert response["Accept-Ranges"] == "bytes"
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9.pdf" in response["Content-Disposition"]


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=0-99", 0, 99),
    ("bytes=100-", 100, len(PDF) - 1),
    ("bytes=-10", len(PDF) - 10, len(PDF) - 1),
    ("bytes=5000-999999", 5000, len(PDF) - 1),
])
def test_a_range_answers_206_with_exactly_those_bytes(client, header, start, end):
    data = upload(client, PDF).json()
    response = client.get(f"/api/v1/files/{data['id']}/content", HTTP_RANGE=header)
    assert response.status_code == 206
    assert body(response) == PDF[start : end + 1]
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(PDF)}"
    assert response["Content-Length"] == str(end - start + 1)


@pytest.mark.parametrize("header", ["bytes=999999-", "bytes=50-10", "bytes=-0", "bytes=abc", "bytes=-"])
def test_a_bad_range_answers_416_in_the_envelope(client, header):
    data = upload(client, PDF).json()
    response = client.get(f"/api/v1/files/{data['id']}/content", HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(PDF)}"
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_several_ranges_answer_206_multipart_byteranges_in_the_order_asked(client):
    data = upload(client, PDF).json()
    url = f"/api/v1/files/{data['id']}/content"
    response = client.get(url, HTTP_RANGE="bytes=0-9, 20-29")
    assert response.status_code == 206 and response.streaming
    assert byteranges(response, body(response)) == [
        ("application/pdf", f"bytes 0-9/{len(PDF)}", PDF[:10]),
        ("application/pdf", f"bytes 20-29/{len(PDF)}", PDF[20:30]),
    ]
    backwards = client.get(url, HTTP_RANGE="bytes=-5,100-104,10-10")
    assert [(r, data) for _type, r, data in byteranges(backwards, body(backwards))] == [
        (f"bytes {len(PDF) - 5}-{len(PDF) - 1}/{len(PDF)}", PDF[-5:]), (f"bytes 100-104/{len(PDF)}", PDF[100:105]),
        (f"bytes 10-10/{len(PDF)}", PDF[10:11]),
    ]
    rows = client.get(f"/api/v1/files/{data['id']}/access-log").json()["results"]
    assert [(r["bytes"], r["status"]) for r in rows] == [(11, 206), (20, 206)]  # the data bytes


def test_of_several_ranges_those_past_the_end_are_dropped(client):
    data = upload(client, PDF).json()
    response = client.get(f"/api/v1/files/{data['id']}/content", HTTP_RANGE="bytes=0-4,999999-")
    assert response.status_code == 206 and response["Content-Type"] == "application/pdf"
    assert response["Content-Range"] == f"bytes 0-4/{len(PDF)}" and body(response) == PDF[:5]


@pytest.mark.parametrize("header", [
    "bytes=0-10,5-15",  # overlapping
    "bytes=0-9,-100000",  # overlapping: the suffix is the whole file
    "bytes=" + ",".join(f"{n * 10}-{n * 10 + 1}" for n in range(17)),  # more than 16
    "bytes=0-1,abc",
    "bytes=999999-,1000000-",
])
def test_overlapping_too_many_or_unsatisfiable_ranges_answer_416(client, header):
    data = upload(client, PDF).json()
    response = client.get(f"/api/v1/files/{data['id']}/content", HTTP_RANGE=header)
    assert response.status_code == 416 and response["Content-Range"] == f"bytes */{len(PDF)}"


def test_another_unit_gets_the_whole_file(client):
    data = upload(client, PDF).json()
    response = client.get(f"/api/v1/files/{data['id']}/content", HTTP_RANGE="items=0-1")
    assert response.status_code == 200 and body(response) == PDF


def test_if_none_match_answers_304_and_a_stale_if_range_sends_everything(client):
    data = upload(client, PDF).json()
    etag = f'"{data["sha256"]}"'
    url = f"/api/v1/files/{data['id']}/content"
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert client.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200
    stale = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"old"')
    assert stale.status_code == 200 and body(stale) == PDF
    fresh = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=etag)
    assert fresh.status_code == 206 and body(fresh) == PDF[:10]


def test_every_download_is_in_the_access_log(client, owner):
    data = upload(client, PDF).json()
    url = f"/api/v1/files/{data['id']}/content"
    body(client.get(url))
    body(client.get(url, HTTP_RANGE="bytes=0-9"))
    client.get(url, HTTP_RANGE="bytes=999999-")
    rows = client.get(f"/api/v1/files/{data['id']}/access-log").json()["results"]
    assert [(r["via"], r["actor"], r["bytes"], r["status"]) for r in rows] == [
        ("member", str(owner.pk), 0, 416), ("member", str(owner.pk), 10, 206), ("member", str(owner.pk), len(PDF), 200),
    ]
    assert rows[0]["ip"] == "127.0.0.1"


def test_the_access_log_believes_x_forwarded_for_only_from_a_trusted_proxy(client, settings):
    data = upload(client, b"bytes").json()
    url = f"/api/v1/files/{data['id']}/content"
    body(client.get(url, HTTP_X_FORWARDED_FOR="203.0.113.9"))
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    body(client.get(url, HTTP_X_FORWARDED_FOR="203.0.113.9"))
    services.access_log_flush()
    assert list(FileAccessLog.objects.order_by("id").values_list("ip", flat=True)) == ["127.0.0.1", "203.0.113.9"]


def test_a_simple_upload_over_the_limit_is_413_and_stores_nothing(client, settings, files_folder):
    settings.FILES_MAX_SIMPLE_UPLOAD_BYTES = 1000
    response = upload(client, b"x" * 1001)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert stored_objects(files_folder) == [] and not File.objects.exists()


def test_an_upload_past_the_plans_quota_is_413_and_stores_nothing(client, tenant, files_folder):
    tenant.plan = PlanFactory(storage_bytes=1500)
    tenant.save()
    assert upload(client, b"a" * 1000).status_code == 201
    response = upload(client, b"b" * 501)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert len(stored_objects(files_folder)) == 1 and File.objects.count() == 1
    assert upload(client, b"c" * 500).status_code == 201  # exactly at the cap


@pytest.mark.parametrize("payload", [{}, {"file": "not a file"}, {"other": SimpleUploadedFile("a", b"a")}])
def test_a_bad_upload_is_a_400_envelope(client, payload):
    response = client.post("/api/v1/files", payload, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_json_instead_of_multipart_is_415(client):
    response = client.post("/api/v1/files", {"file": "x"}, format="json")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_a_malformed_id_is_404(client):
    assert client.get("/api/v1/files/not-a-uuid").status_code == 404
    assert client.get("/api/v1/files/00000000-0000-0000-0000-000000000000/content").status_code == 404
