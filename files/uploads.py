"""Resumable uploads (tus 1.0.0): sessions, their parts, completion into a file, expiry.

Each accepted PATCH is stored as its own object (Django's storage API cannot append), then
counted by one conditional UPDATE of the session's offset, so two PATCHes racing for the same
offset cannot both be accepted. The last one assembles the parts, in order, into the file's
object; the sha256 is computed in that same streaming pass. The declared `Upload-Length` is
reserved against the quota when the session is created and becomes the file's share of it.
"""
import hashlib
import logging
import tempfile
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import NotFound

from core.api.exceptions import Conflict, PayloadTooLarge
from core.audit import audit_record
from files import storage
from files.models import File, FileUploadPart, FileUploadSession
from files.names import detect_content_type, sanitise_name
from files.services import storage_release, storage_reserve
from tenants.models import Tenant

logger = logging.getLogger("groundstation.files")

READ_BYTES = 256 * 1024
SPOOL_BYTES = 1024 * 1024  # a PATCH body is kept in memory up to this, then on disk


class ChecksumMismatch(Exception):
    """The chunk's bytes do not match its `Upload-Checksum` (tus answers 460)."""


def upload_session_create(*, tenant: Tenant, length: int, name: str, created_by=None, actor=None) -> FileUploadSession:
    if length > settings.FILES_MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"Uploads are limited to {settings.FILES_MAX_UPLOAD_BYTES} bytes.")
    storage_reserve(tenant=tenant, size=length)
    try:
        with transaction.atomic():
            session = FileUploadSession.objects.create(
                tenant=tenant, name=sanitise_name(name), length=length, created_by=created_by,
                expires_at=timezone.now() + timedelta(hours=settings.FILES_UPLOAD_EXPIRY_HOURS),
            )
            audit_record(action="file_upload.create", target=session, actor=actor, tenant=tenant,
                         changes={"name": session.name, "length": length})
    except BaseException:
        storage_release(tenant_id=tenant.pk, size=length)
        raise
    return session


def upload_session_append(*, session: FileUploadSession, offset: int, body, body_length: int,
                          checksum: bytes | None = None) -> FileUploadSession:
    """Accept a PATCH: `body_length` bytes read from `body` at `offset`.

    A body cut short (the client's connection dropped) keeps what arrived, so the client
    resumes from there; with a checksum, only a complete and matching chunk is kept.
    """
    if session.is_complete:
        raise Conflict("This upload is complete.")
    if session.expires_at <= timezone.now():
        raise NotFound("This upload has expired.")
    if offset != session.offset:
        raise Conflict(f"Upload-Offset is {session.offset}, not {offset}.")
    if offset + body_length > session.length:
        raise PayloadTooLarge(f"The chunk passes the declared Upload-Length of {session.length} bytes.")
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        received, digest = _receive(body, body_length, spool)
        if checksum is not None and (received != body_length or digest != checksum):
            raise ChecksumMismatch()
        if received == 0:
            return session
        key = storage.part_key(session.tenant_id, session.pk, offset)
        spool.seek(0)
        storage.save(key, spool)
    try:
        with transaction.atomic():
            claimed = FileUploadSession.objects.filter(pk=session.pk, offset=offset, file__isnull=True).update(
                offset=offset + received, updated_at=timezone.now()
            )
            if claimed != 1:
                raise Conflict("Another request moved this upload's offset; ask for it again (HEAD).")
            FileUploadPart.objects.create(session=session, offset=offset, size=received, storage_key=key)
    except BaseException:
        storage.delete(key)
        raise
    session.offset = offset + received
    if session.offset == session.length:
        upload_session_complete(session=session)
    return session


def _receive(body, expected: int, sink) -> tuple[int, bytes]:
    sha = hashlib.sha256()
    received = 0
    while received < expected:
        try:
            chunk = body.read(min(READ_BYTES, expected - received))
        except OSError:  # the client went away mid-body: keep what arrived
            break
        if not chunk:
            break
        sha.update(chunk)
        sink.write(chunk)
        received += len(chunk)
    return received, sha.digest()


def upload_session_complete(*, session: FileUploadSession) -> File:
    """Assemble the parts into the file (hashing as they stream), then drop the parts."""
    parts = list(FileUploadPart.objects.filter(session=session).order_by("offset"))
    file = File(tenant_id=session.tenant_id, name=session.name, size=session.length,
                created_by_id=session.created_by_id)
    file.storage_key = storage.file_key(session.tenant_id, file.pk)
    reader = storage.ConcatenatingReader([p.storage_key for p in parts], [p.size for p in parts])
    storage.save(file.storage_key, reader)
    file.sha256 = reader.sha256.hexdigest()
    file.content_type = detect_content_type(reader.head)
    try:
        with transaction.atomic():
            file.save(force_insert=True)
            FileUploadSession.objects.filter(pk=session.pk).update(file=file, updated_at=timezone.now())
            FileUploadPart.objects.filter(session=session).delete()
    except BaseException:
        storage.delete(file.storage_key)
        raise
    session.file = file
    for part in parts:
        storage.delete(part.storage_key)
    return file


def upload_session_terminate(*, session: FileUploadSession, actor=None) -> None:
    """tus termination: an unfinished upload's parts and reservation go; a finished one's file stays."""
    _discard(session)
    audit_record(action="file_upload.terminate", target=session, actor=actor, tenant=session.tenant,
                 changes={"offset": session.offset, "length": session.length})


def upload_sessions_purge_expired(*, now=None) -> int:
    """Unfinished sessions past their expiry, with their partial bytes; returns how many."""
    now = now or timezone.now()
    expired = FileUploadSession.objects.filter(file__isnull=True, expires_at__lte=now)
    purged = 0
    for session in expired.iterator():
        purged += _discard(session)
    if purged:
        logger.info("expired uploads purged", extra={"count": purged})
    return purged


def _discard(session: FileUploadSession) -> int:
    keys = list(FileUploadPart.objects.filter(session=session).values_list("storage_key", flat=True))
    with transaction.atomic():
        # Whoever deletes the row frees the reservation (a purge racing a termination: once).
        _total, per_model = FileUploadSession.objects.filter(pk=session.pk).delete()
        deleted = per_model.get(FileUploadSession._meta.label, 0)
        if deleted and session.file_id is None:
            storage_release(tenant_id=session.tenant_id, size=session.length)
    for key in keys:
        storage.delete(key)
    return 1 if deleted else 0
