"""The operators' console for the fleet: every action goes through the services."""
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils.html import format_html, format_html_join

from core.admin import (
    CappedPaginator,
    DeleteThroughService,
    ReadOnlyAdmin,
    badge,
    relative_time,
    secrets_once_response,
    truncated,
)
from monitoring import admin_charts, admin_pages, alerts, history, services
from monitoring.models import (
    AVAILABLE,
    AlertChannel,
    AlertDelivery,
    Heartbeat,
    Incident,
    MaintenanceWindow,
    MetricRollup,
    Node,
    NodeGroup,
    Snapshot,
    SnapshotRollup,
    Status,
)

DELIVERY_COLOURS = {"pending": admin_charts.colour(Status.UNKNOWN), "delivered": admin_charts.colour(Status.UP),
                    "failed": admin_charts.colour(Status.DOWN)}


def status_badge(status: str):
    return badge(status, admin_charts.colour(status))


class FleetPage:
    """The node and group pages: their history above the change form (see admin_pages.py)."""

    page_context = None  # the admin_pages function for this model

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is not None and self.has_view_or_change_permission(request, obj):
            extra_context = {**(extra_context or {}), "fleet_page": type(self).page_context(obj)}
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(NodeGroup)
class NodeGroupAdmin(FleetPage, DeleteThroughService, admin.ModelAdmin):
    page_context = admin_pages.group_page
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
class NodeAdmin(FleetPage, DeleteThroughService, admin.ModelAdmin):
    page_context = admin_pages.node_page
    # Narrow enough for 1440 px beside the filters: paused shows in the status column, the
    # latency beside the last check's time.
    list_display = ["name", "tenant", "group", "target_display", "coloured_status", "recent_checks", "last_checked"]
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
        if not obj.enabled:
            return badge("paused", admin_charts.PAUSED_COLOUR, title=f"paused (last status: {obj.status})")
        return status_badge(obj.status)

    @admin.display(description="target")
    def target_display(self, obj) -> str:
        return truncated(obj.target, length=32)

    def get_changelist_instance(self, request):
        """The page's rows get their latest checks in one statement (history.nodes_recent_checks),
        read before the rows render: the template iterates the same evaluated queryset."""
        changelist = super().get_changelist_instance(request)
        nodes = list(changelist.result_list)
        recent = history.nodes_recent_checks(node_ids=[node.pk for node in nodes])
        for node in nodes:
            node.recent_checks = recent.get(node.pk, [])
        return changelist

    @admin.display(description=f"last {history.LIST_CHECKS} checks")
    def recent_checks(self, obj):
        return admin_charts.check_bar(getattr(obj, "recent_checks", []), slots=history.LIST_CHECKS, cell=4, gap=1,
                                      height=18)

    @admin.display(description="last check", ordering="last_checked_at")
    def last_checked(self, obj):
        if obj.last_latency_ms is None:
            return relative_time(obj.last_checked_at)
        return format_html("{}, {} ms", relative_time(obj.last_checked_at), f"{obj.last_latency_ms:.0f}")

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
        nodes = list(queryset)
        snapshots = services.nodes_check_now(nodes=nodes)
        names = {node.pk: node.name for node in nodes}
        # Down, or refused by the outbound guard (unknown, why in the error).
        failed = [f"{names.get(s.node_id, s.node_id)} ({s.error or s.status})" for s in snapshots
                  if s.status == Status.DOWN or s.configuration_error]
        message = f"Checked {len(snapshots)} node(s); {len(failed)} failed"
        self.message_user(request, f"{message}: {'; '.join(failed)}." if failed else f"{message}.",
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
    # Narrow enough for 1440 px beside the filters: the cause under the title (one line, the
    # whole text on hover), who acknowledged on the state badge's hover.
    list_display = ["state_badge", "short_title", "subject_name", "tenant", "opened", "resolved"]
    list_display_links = ["short_title"]
    list_filter = ["state", ("acknowledged_at", admin.EmptyFieldListFilter), "tenant"]
    search_fields = ["title", "cause", "tenant__slug"]
    list_select_related = ["tenant", "acknowledged_by", "node", "group"]
    date_hierarchy = "opened_at"
    actions = ["acknowledge"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        state = admin_charts.incident_state(obj)
        title = state
        if obj.acknowledged_at:
            title = f"acknowledged by {obj.acknowledged_by or 'someone'}, {obj.acknowledged_at:%Y-%m-%d %H:%M} UTC"
        return badge(state, admin_charts.INCIDENT_COLOURS[state], title=title)

    @admin.display(description="incident", ordering="title")
    def short_title(self, obj):
        if not obj.cause:
            return truncated(obj.title, length=50)
        return format_html('{}<br><span class="console-quiet">{}</span>', truncated(obj.title, length=50),
                           truncated(obj.cause, length=60))

    @admin.display(description="node or group")
    def subject_name(self, obj) -> str:
        return obj.group.name if obj.group_id else obj.node.name if obj.node_id else "—"

    @admin.display(description="opened", ordering="opened_at")
    def opened(self, obj):
        return relative_time(obj.opened_at)

    @admin.display(description="resolved", ordering="resolved_at")
    def resolved(self, obj):
        return relative_time(obj.resolved_at)

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


@admin.register(MetricRollup)
class MetricRollupAdmin(ReadOnlyAdmin):
    list_display = ["node", "name", "resolution", "bucket_start", "samples", "minimum", "maximum", "last"]
    list_filter = ["resolution", "name"]
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
    list_display = ["event", "channel", "short_incident", "state_badge", "attempt_count", "created", "delivered"]
    list_filter = ["state", "event"]
    list_select_related = ["channel", "incident"]
    show_full_result_count = False

    @admin.display(description="incident", ordering="incident__opened_at")
    def short_incident(self, obj):
        return truncated(obj.incident.title, length=50)

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return badge(obj.state, DELIVERY_COLOURS.get(obj.state, admin_charts.colour(Status.UNKNOWN)))

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return relative_time(obj.created_at)

    @admin.display(description="delivered", ordering="delivered_at")
    def delivered(self, obj):
        return relative_time(obj.delivered_at)

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
