"""Writes of the files app: stored files, the storage quota, shares and the access log.

Resumable uploads have their own module (`files.uploads`). Bytes are written outside any
database transaction (a slow upload must not hold the embedded database's write lock); the
quota is reserved first, with one conditional UPDATE, and freed again if storing fails.
"""
import contextlib
import hashlib
import hmac
import logging
import secrets
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from apikeys.models import ApiKey
from core.api.exceptions import PayloadTooLarge
from core.audit import audit_record
from files import access_log, storage
from files.models import File, FileAccessLog, FileShare, StorageUsage
from files.names import SNIFF_BYTES, detect_content_type, sanitise_name
from tenants.models import Tenant

logger = logging.getLogger("groundstation.files")

SHARE_TOKEN_BYTES = 32  # 256 bits: unguessable, so the digest needs no slow hash


# --- quota ------------------------------------------------------------------------------------
def storage_cap(tenant: Tenant) -> int | None:
    """The plan's `storage_bytes`; None when the tenant has no plan or the plan no cap."""
    return tenant.plan.storage_bytes if tenant.plan_id else None


def storage_reserve(*, tenant: Tenant, size: int) -> None:
    """Count `size` bytes against the tenant's quota or raise 413; exact under races."""
    with contextlib.suppress(IntegrityError):  # created by a concurrent reservation a moment ago
        StorageUsage.objects.get_or_create(tenant=tenant)
    cap = storage_cap(tenant)
    rows = StorageUsage.objects.filter(tenant=tenant)
    if cap is not None:
        rows = rows.filter(bytes_used__lte=cap - size)
    if rows.update(bytes_used=F("bytes_used") + size, updated_at=timezone.now()) != 1:
        raise PayloadTooLarge(
            f"This upload ({size} bytes) would exceed the plan's storage quota of {cap} bytes; "
            "delete files or move to a bigger plan."
        )


def storage_release(*, tenant_id, size: int) -> None:
    if size:
        StorageUsage.objects.filter(tenant_id=tenant_id).update(
            bytes_used=F("bytes_used") - size, updated_at=timezone.now()
        )


@transaction.atomic
def storage_recount(*, tenant: Tenant) -> int:
    """Set the counter from the rows (stored files + unfinished uploads' declared lengths); for
    operators after a crash between a reservation and its file (`manage.py files_recount`)."""
    from files.models import FileUploadSession

    files = File.objects.for_tenant(tenant).values_list("size", flat=True)
    uploads = FileUploadSession.objects.for_tenant(tenant).filter(file__isnull=True).values_list("length", flat=True)
    total = sum(files) + sum(uploads)
    StorageUsage.objects.update_or_create(tenant=tenant, defaults={"bytes_used": total})
    return total


# --- files ------------------------------------------------------------------------------------
def file_create(*, tenant: Tenant, upload, created_by=None, actor=None) -> File:
    """A file from a received upload (a Django `UploadedFile` whose `sha256` was computed while
    it streamed in, see `files.api.parsers`): quota, bytes, then the row."""
    size = upload.size
    storage_reserve(tenant=tenant, size=size)
    file = File(tenant=tenant, name=sanitise_name(upload.name), size=size, sha256=upload.sha256,
                created_by=created_by)
    file.storage_key = storage.file_key(tenant.pk, file.pk)
    try:
        upload.seek(0)
        file.content_type = detect_content_type(upload.read(SNIFF_BYTES))
        upload.seek(0)
        storage.save(file.storage_key, upload)
        with transaction.atomic():
            file.save(force_insert=True)
            audit_record(action="file.create", target=file, actor=actor, tenant=tenant,
                         changes={"name": file.name, "size": size})
    except BaseException:
        storage_release(tenant_id=tenant.pk, size=size)
        storage.delete(file.storage_key)
        raise
    return file


def file_delete(*, file: File, actor=None) -> None:
    """Removes the row, then the bytes, and frees the quota (after the commit)."""
    with transaction.atomic():
        File.objects.filter(pk=file.pk).delete()
        audit_record(action="file.delete", target=file, actor=actor, tenant=file.tenant,
                     changes={"name": file.name, "size": file.size})
        storage_release(tenant_id=file.tenant_id, size=file.size)
    storage.delete(file.storage_key)


# --- shares -----------------------------------------------------------------------------------
def share_token_digest(token: str) -> str:
    return hmac.new(settings.CREDENTIAL_PEPPER.encode(), token.encode(), hashlib.sha256).hexdigest()


@transaction.atomic
def share_create(*, file: File, expires_at: datetime | None = None, max_downloads: int | None = None,
                 created_by=None, actor=None) -> tuple[FileShare, str]:
    """A new link; the token is returned once and only its digest is kept."""
    token = secrets.token_urlsafe(SHARE_TOKEN_BYTES)
    share = FileShare.objects.create(
        tenant_id=file.tenant_id, file=file, token_digest=share_token_digest(token),
        expires_at=expires_at, max_downloads=max_downloads, created_by=created_by,
    )
    audit_record(action="file_share.create", target=share, actor=actor, tenant=file.tenant,
                 changes={"file": str(file.pk), "expires_at": expires_at and expires_at.isoformat(),
                          "max_downloads": max_downloads})
    return share, token


@transaction.atomic
def share_revoke(*, share: FileShare, actor=None) -> FileShare:
    if share.revoked_at is None:
        share.revoked_at = timezone.now()
        share.save(update_fields=["revoked_at"])
        audit_record(action="file_share.revoke", target=share, actor=actor, tenant=share.tenant)
    return share


def share_claim_download(*, token: str) -> FileShare | None:
    """Count one download of the share named by `token`, if it still allows one.

    One conditional UPDATE (live, not expired, under its limit): of N concurrent downloads of a
    share with one left, exactly one changes the row and is served; the others see None (404).
    """
    digest = share_token_digest(token)
    now = timezone.now()
    live = FileShare.objects.filter(token_digest=digest, revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    ).filter(Q(max_downloads__isnull=True) | Q(downloads__lt=F("max_downloads")))
    if live.update(downloads=F("downloads") + 1) != 1:
        return None
    return FileShare.objects.select_related("file", "tenant").get(token_digest=digest)


def share_state(share: FileShare, *, now: datetime | None = None) -> str:
    now = now or timezone.now()
    if share.revoked_at is not None:
        return "revoked"
    if share.expires_at is not None and share.expires_at <= now:
        return "expired"
    if share.max_downloads is not None and share.downloads >= share.max_downloads:
        return "exhausted"
    return "active"


# --- access log -------------------------------------------------------------------------------
def access_log_store(*, rows: list[dict]) -> int:
    """Insert buffered access-log rows (see `files.access_log`) in one bulk INSERT.

    Replays insert nothing twice (each row's `key` is unique). A row whose file was deleted
    since is dropped (its log went with it); a gone user, key or share becomes null, as the
    foreign keys' SET_NULL would have made it.
    """
    if not rows:
        return 0
    files = {str(pk) for pk in File.objects.filter(pk__in={r["file"] for r in rows}).values_list("pk", flat=True)}
    live = {
        field: {str(pk) for pk in model.objects.filter(pk__in={r[field] for r in rows if r[field]})
                .values_list("pk", flat=True)}
        for field, model in (("user", get_user_model()), ("api_key", ApiKey),
                             ("share", FileShare))
    }
    objects = [
        FileAccessLog(key=row["key"], tenant_id=row["tenant"], file_id=row["file"], at=row["at"], via=row["via"],
                      status=row["status"], bytes=row["bytes"], ip=row["ip"],
                      **{f"{field}_id": row[field] if row[field] in live[field] else None for field in live})
        for row in rows if row["file"] in files
    ]
    FileAccessLog.objects.bulk_create(objects, ignore_conflicts=True, batch_size=1000)
    return len(objects)


def access_log_flush(*, stale_after_seconds: int = 120) -> int:
    """Move buffered access-log rows into the table (`core.shipping`; beat, every 5 s). Idempotent."""
    return access_log.buffer.flush(stale_after_seconds=stale_after_seconds)


def access_log_catch_up() -> None:
    """Before a listing: the rows buffered so far, so a download that ended is listed at once.

    Rows still in another web process's buffer arrive within its ship interval. A failure
    (Redis down) is logged and the listing shows what the table holds.
    """
    try:
        access_log_flush()
    except Exception:
        logger.warning("file access log not flushed before a listing", exc_info=True)
