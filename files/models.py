"""Tenant files, resumable upload sessions, share links and the download access log.

Bytes live in the `files` storage (settings `STORAGES["files"]`: a folder or an S3-compatible
bucket) under keys the platform chooses (`tenants/<tenant>/files/<id>`), never a client's
name; the name a client gave is kept, sanitised, only for display and `Content-Disposition`.
"""

from django.conf import settings
from django.db import models

from tenants.models import Tenant, TenantOwnedModel, TenantOwnedQuerySet


class File(TenantOwnedModel):
    name = models.CharField(max_length=255)  # sanitised (files.names), display only
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=100)  # detected from the bytes, not the client's claim
    sha256 = models.CharField(max_length=64)
    storage_key = models.CharField(max_length=255, unique=True, editable=False)

    class Meta(TenantOwnedModel.Meta):
        indexes = [models.Index(fields=["tenant", "-created_at"], name="files_file_tenant_recent")]

    def __str__(self) -> str:
        return self.name

    @property
    def etag(self) -> str:
        return f'"{self.sha256}"'


class StorageUsage(models.Model):
    """Bytes a tenant holds or has reserved for uploads under way: the quota's one counter.

    Reserved with one conditional UPDATE (`bytes_used + n <= cap`), so two racing uploads can
    never pass the plan's `storage_bytes` together; deleting a file or ending an upload frees it.
    """

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, primary_key=True, related_name="storage_usage")
    bytes_used = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "storage usage"

    def __str__(self) -> str:
        return f"{self.tenant}: {self.bytes_used} bytes"


class FileUploadSession(TenantOwnedModel):
    """A resumable (tus) upload: its declared length, how far it got, and its parts so far."""

    name = models.CharField(max_length=255)
    length = models.BigIntegerField()  # Upload-Length; reserved against the quota at creation
    offset = models.BigIntegerField(default=0)
    expires_at = models.DateTimeField()
    # Set by whoever assembles the received parts into the file, renewed while it copies: a stale
    # one means its process died, and the recovery (HEAD, PATCH, beat) assembles again.
    assembly_claimed_at = models.DateTimeField(null=True, blank=True)
    file = models.OneToOneField(File, null=True, blank=True, on_delete=models.SET_NULL, related_name="upload")

    class Meta(TenantOwnedModel.Meta):
        # The purge's query: unfinished sessions past their expiry.
        indexes = [models.Index(fields=["expires_at"], name="files_upload_expiry",
                                condition=models.Q(file__isnull=True))]

    def __str__(self) -> str:
        return f"{self.name} ({self.offset}/{self.length})"

    @property
    def is_complete(self) -> bool:
        return self.file_id is not None


class FileUploadPart(models.Model):
    """One accepted PATCH of an upload, stored as its own object until the upload completes
    (Django's storage API cannot append): assembled, in offset order, into the file."""

    session = models.ForeignKey(FileUploadSession, on_delete=models.CASCADE, related_name="parts")
    offset = models.BigIntegerField()
    size = models.BigIntegerField()
    storage_key = models.CharField(max_length=255, unique=True)

    class Meta:
        ordering = ["offset"]
        constraints = [models.UniqueConstraint(fields=["session", "offset"], name="files_part_once_per_offset")]

    def __str__(self) -> str:
        return f"{self.session_id}@{self.offset}"


class FileShare(TenantOwnedModel):
    """A public link to one file. Only the token's digest is stored; the token is shown once."""

    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="shares")
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    max_downloads = models.PositiveIntegerField(null=True, blank=True)
    downloads = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"share of {self.file_id}"


class FileAccessLog(models.Model):
    """One download: through whom (a member, an API key or a share), from where, how much.
    Buffered by the download and written in bulk (`files.access_log`), never in its path.

    Not a `TenantOwnedModel`: an append-only log row has no creator or update time, and its
    integer key keeps the per-file index small; it is scoped the same way (`for_tenant`)."""

    class Via(models.TextChoices):
        MEMBER = "member"
        API_KEY = "api_key"
        SHARE = "share"

    id = models.BigAutoField(primary_key=True)
    # Minted when the download ends (files.access_log): a buffered row replayed is stored once.
    key = models.UUIDField(unique=True, null=True, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="access_log")
    at = models.DateTimeField()
    via = models.CharField(max_length=10, choices=Via.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    api_key = models.ForeignKey("apikeys.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    share = models.ForeignKey(FileShare, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ip = models.GenericIPAddressField(null=True, blank=True)
    bytes = models.BigIntegerField(default=0)
    status = models.PositiveSmallIntegerField()

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        # The per-file listing, newest first.
        indexes = [models.Index(fields=["file", "-at"], name="files_access_file_recent")]

    def __str__(self) -> str:
        return f"{self.via} {self.status} {self.bytes}B"
