"""Monitoring API payloads. Validation lives here; writes go through the services."""
import ipaddress
import re

from django.conf import settings
from rest_framework import serializers

from core import outbound
from core.api.query import QueryParamsSerializer
from monitoring import check_config
from monitoring.models import (
    AlertChannel,
    AlertDelivery,
    Incident,
    MaintenanceWindow,
    Node,
    NodeGroup,
    Snapshot,
    check_consistency,
    timeout_for,
)

# A DNS name: labels of letters, digits and hyphens, no leading/trailing hyphen.
HOSTNAME = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")
PATH = re.compile(r"^/[\x21-\x7e]*$")  # printable ASCII, no spaces


def validate_address(value: str) -> str:
    """An IP address or a host name — no scheme, path, port, spaces or shell characters."""
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not HOSTNAME.match(value) or value.replace(".", "").isdigit():
        raise serializers.ValidationError(
            "Enter an IP address or a host name (letters, digits, hyphens and dots; no scheme, path or port)."
        )
    return value.lower().rstrip(".")


class TenantObjectField(serializers.PrimaryKeyRelatedField):
    """A reference to another object of the caller's tenant; foreign ids are 'not found'."""

    def get_queryset(self):
        return self.queryset.model.objects.for_tenant(self.context["view"].tenant)


class NodeGroupSerializer(serializers.ModelSerializer):
    members = serializers.IntegerField(read_only=True, required=False)
    members_up = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = NodeGroup
        fields = [
            "id", "name", "description", "min_online", "status", "status_changed_at", "last_checked_at",
            "members", "members_up", "created_at", "updated_at",
        ]
        read_only_fields = ["status", "status_changed_at", "last_checked_at", "created_at", "updated_at"]
        extra_kwargs = {"min_online": {"min_value": 1}}

    def validate_name(self, value: str) -> str:
        clash = NodeGroup.objects.for_tenant(self.context["view"].tenant).filter(name=value)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError("A group with this name already exists.")
        return value


class NodeSerializer(serializers.ModelSerializer):
    check = serializers.ChoiceField(source="check_type", choices=Node.CheckType.choices, default=Node.CheckType.HTTP)
    group = TenantObjectField(queryset=NodeGroup.objects.none(), allow_null=True, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), max_length=20, required=False)
    interval_seconds = serializers.IntegerField(
        min_value=settings.MONITORING_MIN_INTERVAL_SECONDS, max_value=86400, required=False
    )
    timeout_seconds = serializers.IntegerField(min_value=1, max_value=60, required=False)
    port = serializers.IntegerField(min_value=1, max_value=65535, required=False)
    expected_status = serializers.IntegerField(min_value=100, max_value=599, required=False)
    method = serializers.CharField(source="rpc_method", max_length=check_config.MAX_METHOD, required=False,
                                   allow_blank=True, validators=[check_config.validate_method],
                                   help_text="JSON-RPC method of a jsonrpc check, e.g. getStatus.")
    params = serializers.JSONField(source="rpc_params", required=False, allow_null=True,
                                   validators=[check_config.validate_params],
                                   help_text="JSON-RPC params: a list or an object; null: none sent.")
    expected_result = serializers.CharField(
        max_length=check_config.MAX_PATH, required=False, allow_blank=True,
        validators=[check_config.validate_optional_path],
        help_text="Dotted path that must exist in the JSON-RPC result; empty: any result.",
    )
    expected_result_value = serializers.CharField(
        max_length=200, required=False, allow_blank=True,
        help_text="Empty: the path must exist; else its value as text (true/false/null as JSON spells them).",
    )
    metrics = serializers.JSONField(
        required=False, validators=[check_config.validate_metrics],
        help_text='Numbers read from each successful answer: {"name": "dotted.path"}, '
                  f"at most {check_config.MAX_METRICS}, names up to {check_config.MAX_METRIC_NAME} characters.",
    )
    last_metrics = serializers.DictField(child=serializers.FloatField(), read_only=True,
                                         help_text="Each metric's latest recorded value.")

    class Meta:
        model = Node
        fields = [
            "id", "name", "address", "port", "pubkey", "check", "tls", "path", "expected_status",
            "expected_body", "expected_json_field", "expected_json_value", "method", "params", "expected_result",
            "expected_result_value", "metrics", "interval_seconds", "timeout_seconds", "enabled", "group", "tags",
            "status", "status_changed_at", "consecutive_failures", "last_checked_at", "last_latency_ms",
            "last_error", "configuration_error", "last_metrics", "created_at", "updated_at",
        ]
        read_only_fields = [
            "status", "status_changed_at", "consecutive_failures", "last_checked_at", "last_latency_ms",
            "last_error", "configuration_error", "created_at", "updated_at",
        ]

    def validate_address(self, value: str) -> str:
        return validate_address(value)

    def validate_path(self, value: str) -> str:
        if not PATH.match(value):
            raise serializers.ValidationError("Start with '/' and use no spaces.")
        return value

    def validate_name(self, value: str) -> str:
        clash = Node.objects.for_tenant(self.context["view"].tenant).filter(name=value)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError("A node with this name already exists.")
        return value

    def validate(self, attrs: dict) -> dict:
        interval = attrs.get(
            "interval_seconds",
            getattr(self.instance, "interval_seconds", settings.MONITORING_DEFAULT_INTERVAL_SECONDS),
        )
        if self.instance is None and "timeout_seconds" not in attrs:
            attrs["timeout_seconds"] = timeout_for(interval)  # the default follows the interval
        timeout = attrs.get("timeout_seconds", getattr(self.instance, "timeout_seconds", None))
        if timeout >= interval:
            raise serializers.ValidationError({"timeout_seconds": ["Must be shorter than interval_seconds."]})
        current = {name: attrs.get(name, getattr(self.instance, name, default))
                   for name, default in (("check_type", Node.CheckType.HTTP), ("rpc_method", ""), ("metrics", {}))}
        errors = check_consistency(current["check_type"], current["rpc_method"], current["metrics"])
        if errors:
            public = {"rpc_method": "method", "check_type": "check"}
            raise serializers.ValidationError({public.get(k, k): [v] for k, v in errors.items()})
        return attrs


class StatusSerializer(serializers.ModelSerializer):
    node_id = serializers.UUIDField(source="id", read_only=True)
    group_id = serializers.UUIDField(allow_null=True, read_only=True)

    class Meta:
        model = Node
        fields = [
            "node_id", "name", "address", "port", "group_id", "enabled", "status", "status_changed_at",
            "last_checked_at", "last_latency_ms", "last_error", "configuration_error", "consecutive_failures",
        ]


class SnapshotSerializer(serializers.ModelSerializer):
    node_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Snapshot
        fields = ["node_id", "checked_at", "status", "latency_ms", "http_status", "error", "configuration_error"]


class HistoryQuerySerializer(QueryParamsSerializer):
    # `from` is a keyword: declared below under its public name.
    to = serializers.DateTimeField(required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField(required=False)
        return fields

    def validate(self, attrs: dict) -> dict:
        if attrs.get("from") and attrs.get("to") and attrs["from"] >= attrs["to"]:
            raise serializers.ValidationError({"to": ["Must be after 'from'."]})
        return attrs


class UptimeQuerySerializer(QueryParamsSerializer):
    window = serializers.ChoiceField(choices=["1h", "24h", "7d", "30d"], default="24h")


class MetricStatisticsQuerySerializer(QueryParamsSerializer):
    name = serializers.CharField(max_length=check_config.MAX_METRIC_NAME, trim_whitespace=False)
    window = serializers.ChoiceField(choices=["1h", "24h", "7d", "30d"], default="24h")
    group_by = serializers.ChoiceField(choices=["node", "group"], default="node")

    def validate_name(self, value: str) -> str:
        if not value.isprintable():
            raise serializers.ValidationError("Use printable characters.")
        return value


class GroupStatisticsQuerySerializer(HistoryQuerySerializer):
    bucket = serializers.RegexField(r"^\d{1,4}[mhd]$", default="1h")


class IncidentSerializer(serializers.ModelSerializer):
    node_id = serializers.UUIDField(read_only=True, allow_null=True)
    group_id = serializers.UUIDField(read_only=True, allow_null=True)
    subject = serializers.CharField(read_only=True)
    acknowledged_by = serializers.UUIDField(source="acknowledged_by_id", read_only=True, allow_null=True)

    class Meta:
        model = Incident
        fields = [
            "id", "subject", "node_id", "group_id", "state", "title", "cause", "opened_at", "resolved_at",
            "acknowledged_at", "acknowledged_by",
        ]


class AlertChannelSerializer(serializers.ModelSerializer):
    remind_every_minutes = serializers.IntegerField(min_value=5, max_value=10080, allow_null=True, required=False)

    class Meta:
        model = AlertChannel
        fields = ["id", "name", "kind", "url", "email", "enabled", "remind_every_minutes", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def validate_url(self, value: str) -> str:
        if value and not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Use an http or https URL.")
        # A URL the guard would refuse at delivery time is refused now, by the guard's own rules.
        reason = value and outbound.destination_refusal(value)
        if reason:
            raise serializers.ValidationError(f"The platform's outbound guard refuses this URL: {reason}.")
        return value

    def validate(self, attrs: dict) -> dict:
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        if self.instance is not None and "kind" in attrs and attrs["kind"] != self.instance.kind:
            raise serializers.ValidationError({"kind": ["The kind of a channel cannot change."]})
        url = attrs.get("url", getattr(self.instance, "url", ""))
        email = attrs.get("email", getattr(self.instance, "email", ""))
        if kind == AlertChannel.Kind.WEBHOOK and not url:
            raise serializers.ValidationError({"url": ["A webhook channel needs a URL."]})
        if kind == AlertChannel.Kind.EMAIL and not email:
            raise serializers.ValidationError({"email": ["An e-mail channel needs an address."]})
        return attrs


class AlertChannelCreatedSerializer(AlertChannelSerializer):
    signing_secret = serializers.CharField(read_only=True, allow_null=True, help_text="Shown once.")

    class Meta(AlertChannelSerializer.Meta):
        fields = [*AlertChannelSerializer.Meta.fields, "signing_secret"]


class SigningSecretSerializer(serializers.Serializer):
    signing_secret = serializers.CharField(read_only=True)


class AlertDeliverySerializer(serializers.ModelSerializer):
    channel_id = serializers.UUIDField(read_only=True)
    incident_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = AlertDelivery
        fields = ["id", "channel_id", "incident_id", "event", "state", "attempts", "created_at", "delivered_at"]


class MaintenanceWindowSerializer(serializers.ModelSerializer):
    node = TenantObjectField(queryset=Node.objects.none(), allow_null=True, required=False)
    group = TenantObjectField(queryset=NodeGroup.objects.none(), allow_null=True, required=False)

    class Meta:
        model = MaintenanceWindow
        fields = ["id", "name", "node", "group", "starts_at", "ends_at", "created_at"]
        read_only_fields = ["created_at"]

    def validate(self, attrs: dict) -> dict:
        starts = attrs.get("starts_at", getattr(self.instance, "starts_at", None))
        ends = attrs.get("ends_at", getattr(self.instance, "ends_at", None))
        if starts and ends and ends <= starts:
            raise serializers.ValidationError({"ends_at": ["Must be after starts_at."]})
        if attrs.get("node") and attrs.get("group"):
            raise serializers.ValidationError({"group": ["Cover either one node or one group, not both."]})
        return attrs
