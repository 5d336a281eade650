"""Resumable uploads (tus 1.0.0): sessions, their parts, completion into a file, expiry.

Each accepted PATCH is stored as its own object (Django's storage API cannot append), then
counted by one conditional UPDATE of the session's offset, so two PATCHes racing for the same
offset cannot both be accepted. The last one assembles the parts, in order, into the file's
object; the sha256 is computed in that same streaming pass. The declared `Upload-Length` is
reserved against the quota when the session is created and becomes the file's share of it.

Assembly survives a crash. The PATCH that receives the last byte claims the assembly (the
same conditional UPDATE sets `assembly_claimed_at`) and renews the claim while it copies; the
file's id is the session's, so its object key is known before any byte is written. A process
that dies mid-way leaves a fully received session whose claim goes stale: the next HEAD or
PATCH, or the beat purge, claims it again, removes the half-written object and assembles anew.
Parts are deleted only after the file's row is committed; leftovers (a crash after the
commit, or a part stored by a PATCH that died before recording it) are removed by the same
recovery, listing the upload's prefix in the storage.
"""
import hashlib
import logging
import tempfile
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
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
# An assembly renews its claim every HEARTBEAT; one not renewed for LEASE died with its process.
ASSEMBLY_HEARTBEAT = timedelta(seconds=10)
ASSEMBLY_LEASE = timedelta(seconds=120)
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
                assembly_claimed_at=timezone.now() if length == 0 else None,  # complete at once
            )
            audit_record(action="file_upload.create", target=session, actor=actor, tenant=tenant,
                         changes={"name": session.name, "length": length})
    except BaseException:
        storage_release(tenant_id=tenant.pk, size=length)
        raise
    if length == 0:
        _assemble(session)
    return session


def upload_session_append(*, session: FileUploadSession, offset: int, body, body_length: int,
                          checksum: bytes | None = None) -> FileUploadSession:
    """Accept a PATCH: `body_length` bytes read from `body` at `offset`.

    A body cut short (the client's connection dropped) keeps what arrived, so the client
    resumes from there; with a checksum, only a complete and matching chunk is kept.
    """
    if session.offset == session.length:
        session = upload_session_recover(session=session)  # an assembly that died: redo it now
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
            now = timezone.now()
            last = offset + received == session.length  # this request assembles the file: it claims that
            claimed = FileUploadSession.objects.filter(pk=session.pk, offset=offset, file__isnull=True).update(
                offset=offset + received, updated_at=now, **({"assembly_claimed_at": now} if last else {})
            )
            if claimed != 1:
                raise Conflict("Another request moved this upload's offset; ask for it again (HEAD).")
            FileUploadPart.objects.create(session=session, offset=offset, size=received, storage_key=key)
    except BaseException:
        storage.delete(key)
        raise
    session.offset = offset + received
    if session.offset == session.length:
        _assemble(session)
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


def upload_session_recover(*, session: FileUploadSession) -> FileUploadSession:
    """Finish what a process that died left: a fully received upload whose assembly's claim
    went stale is assembled; a finished upload's leftover parts are removed."""
    if session.file_id is None and session.offset == session.length:
        now = timezone.now()
        stale = Q(assembly_claimed_at__isnull=True) | Q(assembly_claimed_at__lt=now - ASSEMBLY_LEASE)
        rows = FileUploadSession.objects.filter(stale, pk=session.pk, file__isnull=True, offset=F("length"))
        if rows.update(assembly_claimed_at=now) == 1:
            logger.warning("upload assembly recovered", extra={"upload": str(session.pk)})
            _assemble(session)
    elif session.file_id is not None and FileUploadPart.objects.filter(session=session).exists():
        _drop_parts(session)
    return session


def upload_sessions_recover() -> int:
    """The beat purge's first step: every upload a crash left half-assembled or with leftover
    parts; returns how many were repaired."""
    stale = timezone.now() - ASSEMBLY_LEASE
    half_done = FileUploadSession.objects.filter(file__isnull=True, offset=F("length")).filter(
        Q(assembly_claimed_at__isnull=True) | Q(assembly_claimed_at__lt=stale))
    leftovers = FileUploadSession.objects.filter(file__isnull=False, parts__isnull=False).distinct()
    repaired = 0
    for session in [*half_done, *leftovers]:
        try:
            upload_session_recover(session=session)
            repaired += 1
        except Exception:  # one broken upload (a part lost by the storage) must not stop the others
            logger.exception("upload not recovered", extra={"upload": str(session.pk)})
    return repaired


def _assemble(session: FileUploadSession) -> File:
    """Assemble the parts into the file (hashing as they stream), then drop the parts.

    The caller holds the claim (`assembly_claimed_at`), renewed here while the bytes are copied.
    """
    parts = list(FileUploadPart.objects.filter(session=session).order_by("offset"))
    # The session's id: a repeated assembly writes the same key, never a second orphan object.
    file = File(id=session.pk, tenant_id=session.tenant_id, name=session.name, size=session.length,
                created_by_id=session.created_by_id)
    file.storage_key = storage.file_key(session.tenant_id, file.pk)
    renewed = [timezone.now()]

    def heartbeat() -> None:
        now = timezone.now()
        if now - renewed[0] >= ASSEMBLY_HEARTBEAT:
            FileUploadSession.objects.filter(pk=session.pk, file__isnull=True).update(assembly_claimed_at=now)
            renewed[0] = now

    try:
        storage.delete(file.storage_key)  # what an assembly that died part-way wrote
        reader = storage.ConcatenatingReader([p.storage_key for p in parts], [p.size for p in parts],
                                             on_chunk=heartbeat)
        storage.save(file.storage_key, reader)
        file.sha256 = reader.sha256.hexdigest()
        file.content_type = detect_content_type(reader.head)
        with transaction.atomic():
            file.save(force_insert=True)
            FileUploadSession.objects.filter(pk=session.pk).update(file=file, updated_at=timezone.now())
    except BaseException:
        storage.delete(file.storage_key)
        # Released: the next HEAD, PATCH or purge tries again at once, not after the lease.
        FileUploadSession.objects.filter(pk=session.pk, file__isnull=True).update(assembly_claimed_at=None)
        raise
    session.file = file
    _drop_parts(session)
    return file


def _drop_parts(session: FileUploadSession) -> None:
    """A finished upload's parts: objects first, rows last, so a crash between leaves rows that
    the recovery finds; then whatever else is under the upload's prefix."""
    parts = list(FileUploadPart.objects.filter(session=session))
    for part in parts:
        storage.delete(part.storage_key)
    storage.delete_under(storage.parts_prefix(session.tenant_id, session.pk))
    FileUploadPart.objects.filter(pk__in=[part.pk for part in parts]).delete()


def upload_session_terminate(*, session: FileUploadSession, actor=None) -> None:
    """tus termination: an unfinished upload's parts and reservation go; a finished one's file stays."""
    _discard(session)
    audit_record(action="file_upload.terminate", target=session, actor=actor, tenant=session.tenant,
                 changes={"offset": session.offset, "length": session.length})


def upload_sessions_purge_expired(*, now=None) -> int:
    """Unfinished sessions past their expiry, with their partial bytes; returns how many."""
    now = now or timezone.now()
    # A fully received upload is assembled, not purged (upload_sessions_recover runs first);
    # one whose assembly keeps failing (a part the storage lost) goes once its claim is released.
    being_assembled = Q(offset=F("length"), assembly_claimed_at__gte=now - ASSEMBLY_LEASE)
    expired = FileUploadSession.objects.filter(file__isnull=True, expires_at__lte=now).exclude(being_assembled)
    purged = 0
    for session in expired.iterator():
        purged += _discard(session)
    if purged:
        logger.info("expired uploads purged", extra={"count": purged})
    return purged


def _discard(session: FileUploadSession) -> int:
    unfinished = session.file_id is None
    keys = list(FileUploadPart.objects.filter(session=session).values_list("storage_key", flat=True))
    if unfinished:
        keys.append(storage.file_key(session.tenant_id, session.pk))  # a half-assembled file's object
    with transaction.atomic():
        # Whoever deletes the row frees the reservation (a purge racing a termination: once); an
        # upload that an assembly finished meanwhile is not deleted as unfinished (its file stays).
        rows = FileUploadSession.objects.filter(pk=session.pk, file__isnull=unfinished)
        _total, per_model = rows.delete()
        deleted = per_model.get(FileUploadSession._meta.label, 0)
        if not deleted:
            return 0
        if unfinished:
            storage_release(tenant_id=session.tenant_id, size=session.length)
    for key in keys:
        storage.delete(key)
    storage.delete_under(storage.parts_prefix(session.tenant_id, session.pk))
    return 1
