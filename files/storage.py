"""The bytes, through Django's storage API (`STORAGES["files"]`), under the platform's keys.

Reads stream in `CHUNK_BYTES` pieces and never hold a whole file: a folder is read with
`seek`, an S3 object with a ranged GET (django-storages' `S3File` would first download the
whole object to a temporary file, so it is bypassed for reads).
"""
import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator

from django.core.files import File as DjangoFile
from django.core.files.storage import storages

from files.names import SNIFF_BYTES

CHUNK_BYTES = 256 * 1024


def files_storage():
    return storages["files"]


def file_key(tenant_id, file_id) -> str:
    return f"tenants/{tenant_id}/files/{file_id}"


def parts_prefix(tenant_id, session_id) -> str:
    return f"tenants/{tenant_id}/uploads/{session_id}/"


def part_key(tenant_id, session_id, offset: int) -> str:
    # A fresh suffix: a PATCH that loses the race for its offset never overwrites the winner's part.
    return f"{parts_prefix(tenant_id, session_id)}{offset:020d}-{uuid.uuid4().hex}"


def save(key: str, content) -> None:
    """Store a file-like object under exactly `key` (streamed by the backend, never read whole)."""
    stored = files_storage().save(key, content if hasattr(content, "chunks") else DjangoFile(content))
    if stored != key:  # a folder renames on collision; keys are unique, so this is a bug, loudly
        files_storage().delete(stored)
        raise RuntimeError(f"storage stored {key!r} as {stored!r}")


def delete(key: str) -> None:
    storage = files_storage()
    if storage.exists(key) if not _is_s3(storage) else True:
        storage.delete(key)  # S3 deletes of a missing key succeed; a folder's would raise


def delete_under(prefix: str) -> int:
    """Every object under `prefix` (a folder's or a bucket's listing): the parts that a process
    which died between storing a part and recording it left behind, named by no row."""
    storage = files_storage()
    try:
        _folders, names = storage.listdir(prefix)
    except FileNotFoundError:  # a folder never created: nothing was stored
        return 0
    for name in names:
        storage.delete(prefix + name)
    return len(names)


def read_range(key: str, start: int, length: int) -> Iterator[bytes]:
    """`length` bytes from `start`, in chunks."""
    if length <= 0:
        return
    storage = files_storage()
    if _is_s3(storage):
        body = storage.bucket.Object(storage._normalize_name(key)).get(
            Range=f"bytes={start}-{start + length - 1}"
        )["Body"]
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        finally:
            body.close()
        return
    with storage.open(key, "rb") as handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def read_head(key: str, size: int) -> bytes:
    return b"".join(read_range(key, 0, size))


class ConcatenatingReader:
    """A file-like over several stored objects in order, hashing (sha256) as it is read: the
    parts of a resumable upload become one object, hashed in the same single pass."""

    def __init__(self, keys: Iterable[str], lengths: Iterable[int], *, on_chunk: Callable[[], None] | None = None):
        self._chunks = (chunk for key, n in zip(keys, lengths, strict=True) for chunk in read_range(key, 0, n))
        self._on_chunk = on_chunk  # called after each chunk read from the storage (a heartbeat)
        self._pending = b""
        self.sha256 = hashlib.sha256()
        self.head = b""  # the first bytes, for type detection
        self.closed = False

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._pending) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            if self._on_chunk is not None:
                self._on_chunk()
            self._pending += chunk
        if size < 0:
            out, self._pending = self._pending, b""
        else:
            out, self._pending = self._pending[:size], self._pending[size:]
        self.sha256.update(out)
        if len(self.head) < SNIFF_BYTES:
            self.head += out[: SNIFF_BYTES - len(self.head)]
        return out


def _is_s3(storage) -> bool:
    return hasattr(storage, "bucket") and hasattr(storage, "_normalize_name")
