"""The operators' pages for files: sizes humanised, shares with their state (revoke action),
upload sessions, the access log (read-only, capped count) and each tenant's quota usage."""
from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat

from core.admin import CappedPaginator, ReadOnlyAdmin, RecordAdmin, may_change, state_badge
from files import selectors, services, uploads
from files.models import File, FileAccessLog, FileShare, FileUploadSession, StorageUsage


@admin.register(File)
class FileAdmin(ReadOnlyAdmin):
    list_display = ("name", "tenant", "human_size", "content_type", "downloads", "created_by", "created_at")
    list_filter = ("content_type",)
    search_fields = ("name", "sha256", "id", "tenant__slug")
    list_select_related = ("tenant", "created_by")
    readonly_fields = ("id", "tenant", "name", "size", "content_type", "sha256", "storage_key", "created_by",
                       "created_at")
    show_full_result_count = False

    def get_queryset(self, request):
        return selectors.files_with_downloads()

    @admin.display(description="size", ordering="size")
    def human_size(self, obj: File) -> str:
        return filesizeformat(obj.size)

    @admin.display(description="downloads", ordering="download_count")
    def downloads(self, obj: File) -> int:
        return obj.download_count

    def delete_model(self, request, obj: File) -> None:
        services.file_delete(file=obj, actor=request.user)  # the bytes and the quota too

    def delete_queryset(self, request, queryset) -> None:
        for file in queryset:
            services.file_delete(file=file, actor=request.user)


@admin.register(FileShare)
class FileShareAdmin(ReadOnlyAdmin):
    list_display = ("file", "tenant", "state", "downloads", "max_downloads", "expires_at", "created_at")
    list_select_related = ("file", "tenant")
    search_fields = ("file__name", "tenant__slug", "id")
    readonly_fields = ("id", "tenant", "file", "expires_at", "max_downloads", "downloads", "revoked_at",
                       "created_by", "created_at")  # never the token digest
    exclude = ("token_digest",)
    actions = ["revoke"]

    @admin.display(description="state")
    def state(self, obj: FileShare):
        return state_badge(services.share_state(obj))

    def has_revoke_permission(self, request) -> bool:
        return may_change(request, self.model)

    @admin.action(description="Revoke the selected shares", permissions=["revoke"])
    def revoke(self, request, queryset) -> None:
        count, already = 0, []
        for share in queryset:
            if share.revoked_at is not None:
                already.append(f"{share.pk} of {share.file}")
                continue
            services.share_revoke(share=share, actor=request.user)
            count += 1
        self.message_user(request, f"{count} share(s) revoked.", messages.SUCCESS)
        if already:
            self.message_user(request, f"Already revoked: {', '.join(already)}.", messages.WARNING)


@admin.register(FileUploadSession)
class FileUploadSessionAdmin(ReadOnlyAdmin):
    list_display = ("name", "tenant", "progress", "expires_at", "file", "created_at")
    list_select_related = ("tenant", "file")
    search_fields = ("name", "tenant__slug", "id")
    readonly_fields = ("id", "tenant", "name", "length", "offset", "expires_at", "assembly_claimed_at", "file",
                       "created_by", "created_at")

    @admin.display(description="progress")
    def progress(self, obj: FileUploadSession) -> str:
        return f"{filesizeformat(obj.offset)} of {filesizeformat(obj.length)}"

    def delete_model(self, request, obj) -> None:
        uploads.upload_session_terminate(session=obj, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for session in queryset:
            uploads.upload_session_terminate(session=session, actor=request.user)


@admin.register(FileAccessLog)
class FileAccessLogAdmin(RecordAdmin):
    list_display = ("at", "file", "tenant", "via", "user", "api_key", "share", "ip", "human_bytes", "status")
    list_filter = ("via", "status")
    list_select_related = ("file", "tenant", "user", "api_key")
    search_fields = ("file__id", "ip")
    date_hierarchy = "at"
    paginator = CappedPaginator
    show_full_result_count = False

    @admin.display(description="bytes", ordering="bytes")
    def human_bytes(self, obj: FileAccessLog) -> str:
        return filesizeformat(obj.bytes)


@admin.register(StorageUsage)
class StorageUsageAdmin(RecordAdmin):
    list_display = ("tenant", "used", "cap", "updated_at")
    list_select_related = ("tenant__plan",)
    search_fields = ("tenant__slug", "tenant__name")
    actions = ["recount"]

    @admin.display(description="used", ordering="bytes_used")
    def used(self, obj: StorageUsage) -> str:
        return filesizeformat(obj.bytes_used)

    @admin.display(description="plan's cap")
    def cap(self, obj: StorageUsage) -> str:
        cap = services.storage_cap(obj.tenant)
        return "no cap" if cap is None else f"{filesizeformat(cap)} ({obj.bytes_used * 100 // max(cap, 1)}%)"

    def has_recount_permission(self, request) -> bool:
        return may_change(request, self.model)

    @admin.action(description="Recount from the files and unfinished uploads", permissions=["recount"])
    def recount(self, request, queryset) -> None:
        for usage in queryset:
            services.storage_recount(tenant=usage.tenant)
        self.message_user(request, f"{queryset.count()} tenant(s) recounted.", messages.SUCCESS)
