"""Reads of the files app, always scoped to one tenant."""
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from files.models import File, FileAccessLog, FileShare, FileUploadSession, StorageUsage
from tenants.models import Tenant


def file_list(*, tenant: Tenant) -> QuerySet[File]:
    return File.objects.for_tenant(tenant).select_related("created_by")


def file_get(*, tenant: Tenant, id) -> File:
    return file_list(tenant=tenant).get(pk=id)


def file_share_list(*, tenant: Tenant, file: File) -> QuerySet[FileShare]:
    return FileShare.objects.for_tenant(tenant).filter(file=file)


def file_access_log_list(*, tenant: Tenant, file: File) -> QuerySet[FileAccessLog]:
    return FileAccessLog.objects.for_tenant(tenant).filter(file=file).select_related("user", "api_key")


def upload_session_list(*, tenant: Tenant) -> QuerySet[FileUploadSession]:
    return FileUploadSession.objects.for_tenant(tenant)


def storage_used(*, tenant: Tenant) -> int:
    usage = StorageUsage.objects.filter(tenant=tenant).first()
    return usage.bytes_used if usage else 0


def files_with_downloads() -> QuerySet[File]:
    """For the admin: every file with its download count — served ones (200, 206), not a 304,
    a 416 or a client gone mid-file. A per-row subquery on the access log's (file, at) index,
    evaluated only for the rows of the page shown, not a GROUP BY over the whole log."""
    served = (FileAccessLog.objects.filter(file=OuterRef("pk"), status__in=(200, 206)).order_by()
              .values("file").annotate(n=Count("id")).values("n"))
    return File.objects.select_related("tenant", "created_by").annotate(
        download_count=Coalesce(Subquery(served), 0))
