"""Operators' console for keys and usage. Secrets and digests are never shown; actions call
the same services as the API and report counts."""
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import Sum
from django.utils import timezone

from apikeys import services
from apikeys.models import ApiCall, ApiKey, UsageRollup
from core.admin import CappedPaginator, confirm_first, secrets_once_response
from core.rates import parse_rate


class ApiKeyForm(forms.ModelForm):
    def clean_rate_limit(self) -> str:
        """A window (`100/m`) or a bucket (`10/s burst 20`), as the API accepts; stored normalised."""
        value = self.cleaned_data["rate_limit"]
        return parse_rate(value).text if value else ""


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "tenant", "display_prefix", "scopes", "rate_limit", "last_used_at", "expires_at",
                    "revoked_at", "created_at"]
    list_select_related = ["tenant", "created_by"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "public_id", "tenant__slug", "tenant__name"]
    fields = ["name", "tenant", "display_prefix", "scopes", "rate_limit", "expires_at", "created_by",
              "created_at", "last_used_at", "rotated_at", "revoked_at"]
    readonly_fields = ["tenant", "display_prefix", "created_by", "created_at", "last_used_at", "rotated_at",
                       "revoked_at"]
    actions = ["revoke_keys", "rotate_keys"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False  # keys are minted through the API, where the secret is shown once to its owner

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: a deleted key leaves no row for its audit events and calls

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.revoked_at is not None:
            return self.fields  # a revoked key is final (the service refuses edits: 409)
        return self.readonly_fields

    def save_model(self, request, obj, form, change) -> None:
        fields = {name: form.cleaned_data[name] for name in form.changed_data
                  if name in {"name", "scopes", "expires_at", "rate_limit"}}
        if not fields:
            return
        services.api_key_update(key=ApiKey.objects.get(pk=obj.pk), actor=request.user, **fields)

    @admin.action(description="Revoke selected keys (they stop working at once)", permissions=["change"])
    @confirm_first("Revoke these API keys? They stop working at once and cannot be restored.", verb="revoke them")
    def revoke_keys(self, request, queryset) -> None:
        count = 0
        for key in queryset.filter(revoked_at__isnull=True):
            services.api_key_revoke(key=key, actor=request.user)
            count += 1
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)

    @admin.action(description="Rotate selected keys (old secrets die; new ones are shown once)",
                  permissions=["change"])
    @confirm_first("Rotate these API keys? Their current secrets stop working at once.", verb="rotate them")
    def rotate_keys(self, request, queryset):
        # The new secrets go to one uncached page, never to messages (stored in a cookie/session).
        rows = []
        for key in queryset.filter(revoked_at__isnull=True).select_related("tenant"):
            key, secret = services.api_key_rotate(key=key, actor=request.user)
            rows.append((f"{key.name} ({key.tenant.slug})", secret))
        if not rows:
            self.message_user(request, "No active key selected; nothing rotated.", messages.WARNING)
            return None
        return secrets_once_response(self, request, title=f"Rotated {len(rows)} key(s)", rows=rows)


@admin.register(ApiCall)
class ApiCallAdmin(admin.ModelAdmin):
    list_display = ["created_at", "tenant", "method", "route", "status", "duration_ms", "api_key", "user"]
    list_select_related = ["tenant", "api_key", "user"]
    list_filter = ["method", "status", "created_at"]
    search_fields = ["route", "request_id", "tenant__slug"]
    show_full_result_count = False
    paginator = CappedPaginator
    list_per_page = 100

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(UsageRollup)
class UsageRollupAdmin(admin.ModelAdmin):
    """Usage per tenant; the list page draws requests per day for the filtered tenant(s)."""

    list_display = ["day", "tenant", "route", "api_key_id", "requests", "errors"]
    list_select_related = ["tenant"]
    list_filter = ["day", "tenant"]
    search_fields = ["tenant__slug", "route"]
    show_full_result_count = False
    paginator = CappedPaginator
    date_hierarchy = "day"
    readonly_fields = [f.name for f in UsageRollup._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context=extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            since = timezone.now().date() - timedelta(days=29)
            days = list(
                changelist.queryset.filter(day__gte=since).values("day").order_by("day")
                .annotate(requests=Sum("requests"), errors=Sum("errors"))
            )
            peak = max([d["requests"] for d in days] or [1])
            for day in days:
                day["percent"] = round(100 * day["requests"] / peak, 1) if peak else 0
            response.context_data["requests_per_day"] = days
        return response
