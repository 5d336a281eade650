"""Fixtures of the files tests: a fresh storage folder per test, and upload helpers."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from apikeys.gateway.store import redis_client
from core.storage_url import storage_from_url
from files import access_log

# The test database on SQLite is a shared-cache in-memory one, whose concurrent writers get
# "table is locked" at once instead of waiting like the embedded file database's (busy timeout).
concurrent_writers = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")


@pytest.fixture(autouse=True)
def files_folder(settings, tmp_path):
    """Each test stores its bytes in its own folder (the filesystem backend)."""
    folder = tmp_path / "files"
    settings.STORAGES = {**settings.STORAGES, "files": storage_from_url("", default_location=folder)}
    return folder


@pytest.fixture(autouse=True)
def _empty_access_log_buffer():
    """No buffered download row leaks from one test into another (process buffer and Redis)."""

    def empty():
        access_log.buffer.clear()
        client = redis_client()
        if client is not None:
            client.delete(access_log.buffer.buffer_key, *client.keys(f"{access_log.buffer.processing_prefix}*"))

    empty()
    yield
    empty()


def upload(client, content: bytes, name: str = "report.pdf", **extra):
    return client.post("/api/v1/files", {"file": SimpleUploadedFile(name, content)}, format="multipart", **extra)


def stored_objects(folder) -> list:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def byteranges(response, content: bytes) -> list[tuple[str, str, bytes]]:
    """The parts of a multipart/byteranges body, strictly parsed: (Content-Type, Content-Range, bytes)."""
    assert response["Content-Length"] == str(len(content))
    kind, _, boundary = response["Content-Type"].partition("; boundary=")
    assert kind == "multipart/byteranges" and boundary
    assert content.endswith(f"\r\n--{boundary}--\r\n".encode())
    parts = []
    for raw in content.split(f"\r\n--{boundary}".encode())[1:-1]:
        head, _, data = raw.partition(b"\r\n\r\n")
        blank, content_type, content_range = head.decode().split("\r\n")
        assert blank == ""
        parts.append((content_type.removeprefix("Content-Type: "), content_range.removeprefix("Content-Range: "), data))
    return parts
