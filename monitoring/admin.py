"""The operators' console for the fleet: every action goes through the services."""
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils.html import format_html, format_html_join

from core.admin import CappedPaginator, DeleteThroughService, ReadOnlyAdmin, relative_time, secrets_once_response
from monitoring import alerts, services
from monitoring.models import (
    AVAILABLE,
    AlertChannel,
    AlertDelivery,
    Heartbeat,
    Incident,
    MaintenanceWindow,
    Node,
    NodeGroup,
    Snapshot,
    SnapshotRollup,
    Status,
)

STATUS_COLOURS = {Status.UP: "#1a7f37", Status.DEGRADED: "#b7791f", Status.DOWN: "#cf222e", Status.UNKNOWN: "#6e7781"}


def status_badge(status: str):
    return format_html(
        '<span style="background:{};color:#fff;padding:2px 8px;border-radius:8px;font-weight:600">{}</span>',
        STATUS_COLOURS.get(status, "#6e7781"),
        status,
    )


@admin.register(NodeGroup)
class NodeGroupAdmin(DeleteThroughService, admin.ModelAdmin):
    list_display = ["name", "tenant", "coloured_status", "min_online", "members_up", "members", "last_checked_at"]
    list_filter = ["status", "tenant"]
    search_fields = ["name", "tenant__slug"]
    list_select_related = ["tenant"]
    readonly_fields = ["status", "status_changed_at", "last_checked_at", "created_at", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            _members=Count("nodes", filter=Q(nodes__enabled=True), distinct=True),
            _members_up=Count("nodes", filter=Q(nodes__enabled=True, nodes__status__in=AVAILABLE), distinct=True),
        )

    @admin.display(description="status", ordering="status")
    def coloured_status(self, obj):
        return status_badge(obj.status)

    @admin.display(description="members", ordering="_members")
    def members(self, obj) -> int:
        return obj._members

    @admin.display(description="up", ordering="_members_up")
    def members_up(self, obj) -> int:
        return obj._members_up

    def save_model(self, request, obj, form, change):
        # Through the services, so group changes are audited like the API's.
        fields = {name: form.cleaned_data[name] for name in ("name", "min_online", "description")
                  if name in form.cleaned_data}
        if change:
            group = services.group_update(group=NodeGroup.objects.get(pk=obj.pk), actor=request.user, **fields)
        else:
            group = services.group_create(tenant=form.cleaned_data["tenant"], actor=request.user, **fields)
            obj.pk = group.pk
        services.group_recompute(group=group, quiet=True)  # min_online may have changed the verdict

    def delete_through_service(self, obj, actor):
        services.group_delete(group=obj, actor=actor)


@admin.register(Node)
class NodeAdmin(DeleteThroughService, admin.ModelAdmin):
    list_display = ["name", "tenant", "group", "target_display", "coloured_status", "last_checked",
                    "latency", "enabled"]
    list_filter = ["status", "enabled", "check_type", "group", "tenant"]
    search_fields = ["name", "address", "tenant__slug", "pubkey"]
    list_select_related = ["tenant", "group"]
    readonly_fields = ["status", "status_changed_at", "consecutive_failures", "last_checked_at", "last_latency_ms",
                       "last_error", "latest_metrics", "next_check_at", "created_at", "updated_at"]
    actions = ["check_now", "pause", "resume"]
    autocomplete_fields = ["group"]
    show_full_result_count = False

    @admin.display(description="status", ordering="status")
    def coloured_status(self, obj):
        return status_badge(obj.status)

    @admin.display(description="target")
    def target_display(self, obj) -> str:
        return obj.target

    @admin.display(description="last checked", ordering="last_checked_at")
    def last_checked(self, obj):
        return relative_time(obj.last_checked_at)

    @admin.display(description="latency", ordering="last_latency_ms")
    def latency(self, obj) -> str:
        return "-" if obj.last_latency_ms is None else f"{obj.last_latency_ms:.0f} ms"

    @admin.display(description="latest metric values")
    def latest_metrics(self, obj) -> str:
        """Each declared metric with its latest recorded value ("-": none yet)."""
        if not obj.metrics:
            return "-"
        rows = ((name, path, obj.last_metrics.get(name, "-")) for name, path in sorted(obj.metrics.items()))
        return format_html(
            '<table class="node-metrics"><tr><th>metric</th><th>path</th><th>latest</th></tr>{}</table>',
            format_html_join("", "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>", rows),
        )

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in services.NODE_CONFIG_FIELDS}
        if change:
            services.node_update(node=Node.objects.get(pk=obj.pk), actor=request.user, **fields)
        else:
            data = {n: form.cleaned_data[n] for n in services.NODE_CONFIG_FIELDS if n in form.cleaned_data}
            obj.pk = services.node_create(tenant=form.cleaned_data["tenant"], actor=request.user, **data).pk

    def delete_through_service(self, obj, actor):
        services.node_delete(node=obj, actor=actor)

    @admin.action(description="Check now", permissions=["change"])
    def check_now(self, request, queryset):
        snapshots = services.nodes_check_now(nodes=list(queryset))
        failed = sum(1 for s in snapshots if s.status == Status.DOWN)
        self.message_user(request, f"Checked {len(snapshots)} node(s); {failed} failed.",
                          messages.WARNING if failed else messages.SUCCESS)

    @admin.action(description="Pause monitoring", permissions=["change"])
    def pause(self, request, queryset):
        for node in queryset:
            services.node_pause(node=node, actor=request.user)
        self.message_user(request, f"Paused {queryset.count()} node(s).")

    @admin.action(description="Resume monitoring", permissions=["change"])
    def resume(self, request, queryset):
        for node in queryset:
            services.node_resume(node=node, actor=request.user)
        self.message_user(request, f"Resumed {queryset.count()} node(s).")


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["title", "tenant", "state", "opened", "resolved_at", "acknowledged_at", "acknowledged_by"]
    list_filter = ["state", ("acknowledged_at", admin.EmptyFieldListFilter), "tenant"]
    search_fields = ["title", "cause", "tenant__slug"]
    list_select_related = ["tenant", "acknowledged_by"]
    date_hierarchy = "opened_at"
    actions = ["acknowledge"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="opened", ordering="opened_at")
    def opened(self, obj):
        return relative_time(obj.opened_at)

    def has_acknowledge_permission(self, request) -> bool:
        """Incident pages are read-only; acknowledging needs the model's change permission."""
        return request.user.has_perm("monitoring.change_incident")

    @admin.action(description="Acknowledge", permissions=["acknowledge"])
    def acknowledge(self, request, queryset):
        count = 0
        for incident in queryset.filter(acknowledged_at__isnull=True):
            services.incident_acknowledge(incident=incident, actor=request.user)
            count += 1
        self.message_user(request, f"Acknowledged {count} incident(s).")


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    list_display = ["node", "checked_at", "coloured_status", "latency_ms", "http_status", "error"]
    list_filter = ["status"]
    list_select_related = ["node"]
    search_fields = ["node__name"]
    date_hierarchy = "checked_at"
    show_full_result_count = False
    paginator = CappedPaginator
    raw_id_fields = ["node", "tenant"]

    @admin.display(description="status")
    def coloured_status(self, obj):
        return status_badge(obj.status)


@admin.register(SnapshotRollup)
class SnapshotRollupAdmin(ReadOnlyAdmin):
    list_display = ["node", "resolution", "bucket_start", "checks", "up", "degraded", "down"]
    list_filter = ["resolution"]
    list_select_related = ["node"]
    show_full_result_count = False
    paginator = CappedPaginator
    raw_id_fields = ["node", "tenant"]


@admin.register(AlertChannel)
class AlertChannelAdmin(DeleteThroughService, admin.ModelAdmin):
    list_display = ["name", "tenant", "kind", "enabled", "remind_every_minutes", "created_at"]
    list_filter = ["kind", "enabled", "tenant"]
    search_fields = ["name", "tenant__slug"]
    list_select_related = ["tenant"]
    exclude = ["signing_salt"]
    readonly_fields = ["created_by", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        if change:
            fields = {name: form.cleaned_data[name] for name in form.changed_data}
            alerts.alert_channel_update(channel=AlertChannel.objects.get(pk=obj.pk), actor=request.user, **fields)
            return
        data = {k: v for k, v in form.cleaned_data.items() if k != "tenant"}
        channel, secret = alerts.alert_channel_create(tenant=form.cleaned_data["tenant"], actor=request.user, **data)
        obj.pk = channel.pk
        if secret:
            # Shown by response_add on an uncached page; a message would sit in a cookie/session.
            request.console_new_secret = (channel.name, secret)

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "console_new_secret", None):
            return secrets_once_response(
                self, request, title="Signing secret of the new channel", rows=[request.console_new_secret]
            )
        return super().response_add(request, obj, post_url_continue)

    def delete_through_service(self, obj, actor):
        alerts.alert_channel_delete(channel=obj, actor=actor)


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["event", "channel", "incident", "state", "attempt_count", "created_at", "delivered_at"]
    list_filter = ["state", "event"]
    list_select_related = ["channel", "incident"]
    show_full_result_count = False

    @admin.display(description="attempts")
    def attempt_count(self, obj) -> int:
        return len(obj.attempts)


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(DeleteThroughService, admin.ModelAdmin):
    list_display = ["name", "tenant", "node", "group", "starts_at", "ends_at"]
    list_filter = ["tenant"]
    list_select_related = ["tenant", "node", "group"]
    raw_id_fields = ["node", "group"]
    search_fields = ["name", "node__name", "group__name"]

    # Through the services, so windows are audited like the API's.
    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name != "tenant"}
        if change:
            services.maintenance_window_update(
                window=MaintenanceWindow.objects.get(pk=obj.pk), actor=request.user, **fields
            )
        else:
            data = {name: value for name, value in form.cleaned_data.items() if name != "tenant"}
            window = services.maintenance_window_create(tenant=form.cleaned_data["tenant"], actor=request.user, **data)
            obj.pk = window.pk

    def delete_through_service(self, obj, actor):
        services.maintenance_window_delete(window=obj, actor=actor)


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["key", "worker", "sent_at", "seen_at"]
