"""Operators' console for keys and usage, and the platform's audit log (here, where both
tenants and API keys have names). Secrets and digests are never shown; actions call the same
services as the API and report counts."""
import uuid
from datetime import UTC, timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import OuterRef, Q, Subquery, Sum
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from apikeys import services
from apikeys.models import ApiCall, ApiKey, UsageRollup
from core.admin import (
    CappedPaginator,
    RecordAdmin,
    badge,
    confirm_first,
    relative_time,
    secrets_once_response,
    short_id,
)
from core.models import AuditEvent
from core.rates import parse_rate
from tenants.models import Tenant
from tenants.policy import Scope

KEY_STATE_COLOURS = {"active": "#1a7f37", "expired": "#b7791f", "revoked": "#cf222e"}


def key_state(key: ApiKey, now=None) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= (now or timezone.now()):
        return "expired"
    return "active"


class KeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [(state, state) for state in KEY_STATE_COLOURS]

    def queryset(self, request, queryset):
        now = timezone.now()
        live = Q(revoked_at__isnull=True)
        if self.value() == "active":
            return queryset.filter(live & (Q(expires_at__isnull=True) | Q(expires_at__gt=now)))
        if self.value() == "expired":
            return queryset.filter(live, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class ApiKeyForm(forms.ModelForm):
    """Scopes as checkboxes: the JSON list the key stores, one box per scope the policy knows."""

    scopes = forms.MultipleChoiceField(choices=[(s.value, s.value) for s in Scope],
                                       widget=forms.CheckboxSelectMultiple, required=True,
                                       help_text="Any scope lets a key read; write, execute and admin add theirs.")

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "rate_limit", "expires_at"]

    def clean_rate_limit(self) -> str:
        """A window (`100/m`) or a bucket (`10/s burst 20`), as the API accepts; stored normalised."""
        value = self.cleaned_data["rate_limit"]
        return parse_rate(value).text if value else ""


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def scope_chips(scopes) -> str:
    return format_html_join("", '<span class="console-chip">{}</span>', ((scope,) for scope in scopes or ()))


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    # Narrow enough for 1440 px beside the filters; created: filter and sort by it.
    list_display = ["name", "tenant", "prefix", "state", "scope_list", "rate_limit", "last_used", "expires"]
    list_select_related = ["tenant", "created_by"]
    list_filter = [KeyStateFilter, "created_at"]
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

    @admin.display(description="state")
    def state(self, obj):
        state = key_state(obj)
        stamp = obj.revoked_at if state == "revoked" else obj.expires_at if state == "expired" else None
        title = f"{state} {stamp.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if stamp else state
        return badge(state, KEY_STATE_COLOURS[state], title=title)

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return scope_chips(obj.scopes)

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, obj):
        return relative_time(obj.last_used_at)

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, obj):
        return relative_time(obj.expires_at)

    @admin.display(description="prefix", ordering="public_id")
    def prefix(self, obj):
        return short_id(obj.display_prefix, length=9)

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
    list_display = ["created_at", "tenant", "method", "route", "status", "duration_ms", "key_name", "user"]
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

    @admin.display(description="API key", ordering="api_key__name")
    def key_name(self, obj) -> str:
        return obj.api_key.name if obj.api_key_id else "—"


@admin.register(UsageRollup)
class UsageRollupAdmin(admin.ModelAdmin):
    """Usage per tenant; the list page draws requests per day for the filtered tenant(s)."""

    list_display = ["day", "tenant", "route", "key_name", "requests", "errors"]
    list_select_related = ["tenant"]
    list_filter = ["day", "tenant"]
    search_fields = ["tenant__slug", "route"]
    show_full_result_count = False
    paginator = CappedPaginator
    date_hierarchy = "day"
    readonly_fields = [f.name for f in UsageRollup._meta.fields]

    def get_changelist_instance(self, request):
        """The page's key names in one query (the rollup keeps the key's id as text, so no join)."""
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        ids = {_uuid(row.api_key_id) for row in rows} - {None}
        names = {str(pk): name for pk, name in ApiKey.objects.filter(pk__in=ids).values_list("pk", "name")}
        for row in rows:
            row.console_key_name = names.get(row.api_key_id)
        return changelist

    @admin.display(description="API key")
    def key_name(self, obj):
        if not obj.api_key_id:
            return "—"  # people's calls
        name = getattr(obj, "console_key_name", None)
        return format_html('<span title="{}">{}</span>', obj.api_key_id, name) if name else short_id(obj.api_key_id)

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


class AuditTenantFilter(admin.SimpleListFilter):
    """The audit log keeps a tenant's id (core knows no tenants); this lists them by name."""

    title = "tenant"
    parameter_name = "tenant_id"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in Tenant.objects.order_by("name").values_list("pk", "name")]

    def queryset(self, request, queryset):
        return queryset.filter(tenant_id=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(RecordAdmin):
    """The platform's audit log (`core.AuditEvent`): tenants and API keys by name (the event
    keeps their ids), the full id on hover."""

    list_display = ("created", "action", "tenant", "actor", "api_key", "target_type", "target")
    list_filter = ("action", AuditTenantFilter)
    search_fields = ("action", "target_id", "actor__email", "request_id")
    list_select_related = ("actor",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    paginator = CappedPaginator

    def get_queryset(self, request):
        tenant_name = Tenant.objects.filter(pk=OuterRef("tenant_id")).values("name")[:1]
        key_name = ApiKey.objects.filter(pk=OuterRef("actor_api_key_id")).values("name")[:1]
        return super().get_queryset(request).annotate(tenant_name=Subquery(tenant_name), key_name=Subquery(key_name))

    @admin.display(description="when", ordering="created_at")
    def created(self, event: AuditEvent):
        return relative_time(event.created_at)

    @admin.display(description="tenant", ordering="tenant_name")
    def tenant(self, event: AuditEvent):
        if event.tenant_name:
            return format_html('<span title="{}">{}</span>', event.tenant_id, event.tenant_name)
        return short_id(event.tenant_id)

    @admin.display(description="API key", ordering="key_name")
    def api_key(self, event: AuditEvent):
        if not event.actor_api_key_id:
            return "—"
        if event.key_name:
            return format_html('<span title="{}">{}</span>', event.actor_api_key_id, event.key_name)
        return short_id(event.actor_api_key_id)

    @admin.display(description="target id", ordering="target_id")
    def target(self, event: AuditEvent):
        return short_id(event.target_id)

