"""Monitoring API: thin viewsets over the services and selectors."""
import re
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.pagination import TimeSeriesCursorPagination
from core.api.tenancy import TenantScopedViewSet
from monitoring import alerts, selectors, services
from monitoring.api import filters
from monitoring.api import serializers as s
from monitoring.api.permissions import (
    ALERT_CHANNEL_POLICY,
    CRUD_OPERATE,
    INCIDENT_POLICY,
    NODE_POLICY,
    READ_ONLY_POLICY,
)
from monitoring.models import AVAILABLE, AlertChannel, Incident, MaintenanceWindow, Node, NodeGroup

FROM_TO = [
    OpenApiParameter("from", OpenApiTypes.DATETIME, description="Inclusive start (ISO 8601)."),
    OpenApiParameter("to", OpenApiTypes.DATETIME, description="Exclusive end (ISO 8601)."),
]


class HistoryPagination(TimeSeriesCursorPagination):
    ordering = "-checked_at"


class DeliveryPagination(TimeSeriesCursorPagination):
    ordering = "-created_at"


class CrudMixin(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
):
    """CRUD whose writes call `create_service`/`update_service`/`delete_service`."""

    def _principal(self):
        return self.request.user  # a User or an ApiKeyPrincipal: both are audited

    def perform_create(self, serializer):
        serializer.instance = self.create_service(tenant=self.tenant, actor=self._principal(),
                                                  **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = self.update_service(serializer.instance, actor=self._principal(),
                                                  **serializer.validated_data)

    def perform_destroy(self, instance):
        self.delete_service(instance, actor=self._principal())


@extend_schema(tags=["monitoring"])
class NodeViewSet(CrudMixin, TenantScopedViewSet):
    """The fleet: nodes polled on their own interval."""

    queryset = Node.objects.select_related("group")
    serializer_class = s.NodeSerializer
    filterset_class = filters.NodeFilter
    ordering_fields = ["name", "status", "last_checked_at", "last_latency_ms", "created_at"]
    ordering = ["name"]
    action_policy = NODE_POLICY

    def create_service(self, **kwargs):
        return services.node_create(**kwargs)

    def update_service(self, node, **kwargs):
        return services.node_update(node=node, **kwargs)

    def delete_service(self, node, **kwargs):
        services.node_delete(node=node, **kwargs)

    @extend_schema(request=None, responses=s.SnapshotSerializer, summary="Check the node now")
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None):
        snapshot = services.node_check_now(node=self.get_object())
        return Response(s.SnapshotSerializer(snapshot).data)

    @extend_schema(request=None, responses=s.NodeSerializer, summary="Stop checking the node")
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        node = services.node_pause(node=self.get_object(), actor=request.user)
        return Response(s.NodeSerializer(node, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses=s.NodeSerializer, summary="Resume checking the node")
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        node = services.node_resume(node=self.get_object(), actor=request.user)
        return Response(s.NodeSerializer(node, context=self.get_serializer_context()).data)

    @extend_schema(parameters=FROM_TO, responses=s.SnapshotSerializer(many=True), summary="Check history")
    @action(detail=True, methods=["get"], pagination_class=HistoryPagination, filter_backends=[])
    def history(self, request, pk=None):
        query = s.HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        snapshots = selectors.snapshot_list(
            node=self.get_object(), start=query.validated_data.get("from"), end=query.validated_data.get("to")
        )
        page = self.paginate_queryset(snapshots)
        return self.get_paginated_response(s.SnapshotSerializer(page, many=True).data)


@extend_schema(tags=["monitoring"])
class NodeGroupViewSet(CrudMixin, TenantScopedViewSet):
    """Quorum groups: up while at least `min_online` members are up."""

    queryset = NodeGroup.objects.annotate(
        members=Count("nodes", filter=Q(nodes__enabled=True), distinct=True),
        members_up=Count("nodes", filter=Q(nodes__enabled=True, nodes__status__in=AVAILABLE), distinct=True),
    )
    serializer_class = s.NodeGroupSerializer
    filterset_class = filters.NodeGroupFilter
    ordering_fields = ["name", "status", "created_at"]
    ordering = ["name"]
    action_policy = CRUD_OPERATE

    def create_service(self, **kwargs):
        return services.group_create(**kwargs)

    def update_service(self, group, **kwargs):
        return services.group_update(group=group, **kwargs)

    def delete_service(self, group, **kwargs):
        services.group_delete(group=group, **kwargs)

    # The write and the re-read of the annotated row (member counts) share one transaction: the
    # row stays locked in between, so a concurrent DELETE cannot make the re-read miss it.
    @transaction.atomic
    def perform_create(self, serializer):
        super().perform_create(serializer)
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    @transaction.atomic
    def perform_update(self, serializer):
        super().perform_update(serializer)
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)


@extend_schema(tags=["monitoring"])
class StatusViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """Current status of every node."""

    queryset = Node.objects.all()
    serializer_class = s.StatusSerializer
    filterset_class = filters.NodeFilter
    ordering_fields = ["name", "status", "last_checked_at"]
    ordering = ["name"]
    action_policy = READ_ONLY_POLICY

    @extend_schema(
        responses=inline_serializer(
            "StatusSummary",
            {
                "nodes": serializers.DictField(child=serializers.IntegerField()),
                "groups": serializers.ListField(child=serializers.DictField()),
                "incidents_open": serializers.IntegerField(),
            },
        ),
        summary="Counts by status and group health",
    )
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def summary(self, request):
        return Response(selectors.status_summary(tenant=self.tenant))


UPTIME_RESPONSE = inline_serializer(
    "UptimeStatistics",
    {
        "window": serializers.CharField(),
        "from": serializers.DateTimeField(),
        "to": serializers.DateTimeField(),
        "results": serializers.ListField(child=serializers.DictField()),
    },
)
GROUPS_RESPONSE = inline_serializer(
    "GroupStatistics",
    {
        "from": serializers.DateTimeField(),
        "to": serializers.DateTimeField(),
        "bucket_seconds": serializers.IntegerField(),
        "results": serializers.ListField(child=serializers.DictField()),
    },
)
METRIC_ROW = inline_serializer(
    "MetricStatisticsRow",
    {
        "node_id": serializers.UUIDField(required=False, help_text="With group_by=node."),
        "group_id": serializers.UUIDField(required=False, help_text="With group_by=group."),
        "name": serializers.CharField(help_text="The node's or group's name."),
        "latest": serializers.FloatField(allow_null=True),
        "min": serializers.FloatField(allow_null=True),
        "max": serializers.FloatField(allow_null=True),
        "avg": serializers.FloatField(allow_null=True),
        "samples": serializers.IntegerField(),
    },
)
METRICS_RESPONSE = inline_serializer(
    "MetricStatistics",
    {
        "name": serializers.CharField(help_text="The metric's name."),
        "window": serializers.CharField(),
        "from": serializers.DateTimeField(),
        "to": serializers.DateTimeField(),
        "results": serializers.ListField(child=METRIC_ROW),
    },
)
BUCKET_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


@extend_schema(tags=["monitoring"])
class StatisticsViewSet(TenantScopedViewSet):
    """Uptime and latency per node and group; group (bridge) health over time; check metrics."""

    queryset = Node.objects.none()
    serializer_class = s.UptimeQuerySerializer
    action_policy = READ_ONLY_POLICY
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        parameters=[OpenApiParameter("window", str, enum=["1h", "24h", "7d", "30d"])],
        responses=UPTIME_RESPONSE,
        summary="Uptime % and p50/p95 latency per node and group",
    )
    @action(detail=False, methods=["get"])
    def uptime(self, request):
        query = s.UptimeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(selectors.uptime_statistics(tenant=self.tenant, window=query.validated_data["window"]))

    @extend_schema(
        parameters=[
            OpenApiParameter("name", str, required=True, description="The metric's name, as nodes declare it."),
            OpenApiParameter("window", str, enum=["1h", "24h", "7d", "30d"], description="Default 24h."),
            OpenApiParameter("group_by", str, enum=["node", "group"], description="Default node."),
        ],
        responses=METRICS_RESPONSE,
        summary="A check metric's latest, min, max and average per node or group",
    )
    @action(detail=False, methods=["get"])
    def metrics(self, request):
        query = s.MetricStatisticsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(selectors.metric_statistics(tenant=self.tenant, **query.validated_data))

    @extend_schema(
        parameters=[*FROM_TO, OpenApiParameter("bucket", str, description="e.g. 15m, 1h, 1d (default 1h)")],
        responses=GROUPS_RESPONSE,
        summary="Group health over time, in buckets",
    )
    @action(detail=False, methods=["get"])
    def groups(self, request):
        query = s.GroupStatisticsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        amount, unit = re.match(r"^(\d+)([mhd])$", data["bucket"]).groups()
        bucket = timedelta(**{BUCKET_UNITS[unit]: int(amount)})
        if bucket < timedelta(minutes=1):
            raise serializers.ValidationError({"bucket": ["Use at least 1m."]})
        end = data.get("to") or timezone.now()
        start = data.get("from") or end - timedelta(hours=24)
        if (end - start) / bucket > selectors.MAX_GROUP_BUCKETS:
            raise serializers.ValidationError({"bucket": [f"At most {selectors.MAX_GROUP_BUCKETS} buckets."]})
        return Response(selectors.group_statistics(tenant=self.tenant, start=start, end=end, bucket=bucket))


@extend_schema(tags=["monitoring"])
class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Node and group outages, open and resolved."""

    queryset = Incident.objects.all()
    serializer_class = s.IncidentSerializer
    filterset_class = filters.IncidentFilter
    ordering_fields = ["opened_at", "resolved_at", "state"]
    ordering = ["-opened_at"]
    action_policy = INCIDENT_POLICY

    @extend_schema(request=None, responses=s.IncidentSerializer, summary="Acknowledge (stops reminders)")
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        incident = services.incident_acknowledge(incident=self.get_object(), actor=request.user)
        return Response(s.IncidentSerializer(incident).data)


@extend_schema(tags=["monitoring"])
@extend_schema_view(create=extend_schema(responses={201: s.AlertChannelCreatedSerializer}))
class AlertChannelViewSet(CrudMixin, TenantScopedViewSet):
    """Where incidents are announced: signed webhooks or e-mail."""

    queryset = AlertChannel.objects.all()
    serializer_class = s.AlertChannelSerializer
    filterset_class = filters.AlertChannelFilter
    ordering_fields = ["name", "created_at"]
    ordering = ["name"]
    action_policy = ALERT_CHANNEL_POLICY

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel, secret = alerts.alert_channel_create(tenant=self.tenant, actor=request.user,
                                                      **serializer.validated_data)
        channel.signing_secret = secret
        return Response(s.AlertChannelCreatedSerializer(channel).data, status=status.HTTP_201_CREATED)

    def update_service(self, channel, **kwargs):
        return alerts.alert_channel_update(channel=channel, **kwargs)

    def delete_service(self, channel, **kwargs):
        alerts.alert_channel_delete(channel=channel, **kwargs)

    @extend_schema(request=None, responses=s.SigningSecretSerializer, summary="Rotate the webhook signing secret")
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        channel = self.get_object()
        if channel.kind != AlertChannel.Kind.WEBHOOK:
            raise serializers.ValidationError({"kind": ["Only webhook channels are signed."]})
        secret = alerts.alert_channel_rotate_secret(channel=channel, actor=request.user)
        return Response({"signing_secret": secret})

    @extend_schema(responses=s.AlertDeliverySerializer(many=True), summary="Delivery attempts of this channel")
    @action(detail=True, methods=["get"], pagination_class=DeliveryPagination, filter_backends=[])
    def deliveries(self, request, pk=None):
        page = self.paginate_queryset(self.get_object().deliveries.all())
        return self.get_paginated_response(s.AlertDeliverySerializer(page, many=True).data)


@extend_schema(tags=["monitoring"])
class MaintenanceWindowViewSet(CrudMixin, TenantScopedViewSet):
    """Planned work: failures inside a window open no incident and send no alert."""

    queryset = MaintenanceWindow.objects.all()
    serializer_class = s.MaintenanceWindowSerializer
    filterset_class = filters.MaintenanceWindowFilter
    ordering_fields = ["starts_at", "ends_at", "name"]
    ordering = ["-starts_at"]
    action_policy = CRUD_OPERATE

    def create_service(self, **kwargs):
        return services.maintenance_window_create(**kwargs)

    def update_service(self, window, **kwargs):
        return services.maintenance_window_update(window=window, **kwargs)

    def delete_service(self, window, **kwargs):
        services.maintenance_window_delete(window=window, **kwargs)
