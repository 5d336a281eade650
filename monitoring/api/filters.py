"""django-filter filter sets of the monitoring API."""
import django_filters

from monitoring.models import AlertChannel, Incident, MaintenanceWindow, Node, NodeGroup, Status


class NodeFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Status.choices)
    check = django_filters.ChoiceFilter(field_name="check_type", choices=Node.CheckType.choices)
    group = django_filters.UUIDFilter(field_name="group_id")
    tag = django_filters.CharFilter(method="filter_tag")
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Node
        fields = ["status", "check", "group", "enabled", "tag", "name"]

    def filter_tag(self, queryset, name, value):
        # JSON `contains` is not portable to SQLite; tags are few per node, so match in SQL text.
        return queryset.filter(tags__icontains=f'"{value}"')


class NodeGroupFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Status.choices)

    class Meta:
        model = NodeGroup
        fields = ["status"]


class IncidentFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=Incident.State.choices)
    node = django_filters.UUIDFilter(field_name="node_id")
    group = django_filters.UUIDFilter(field_name="group_id")
    acknowledged = django_filters.BooleanFilter(field_name="acknowledged_at", lookup_expr="isnull", exclude=True)
    opened_after = django_filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="gte")
    opened_before = django_filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="lt")

    class Meta:
        model = Incident
        fields = ["state", "node", "group", "acknowledged", "opened_after", "opened_before"]


class AlertChannelFilter(django_filters.FilterSet):
    class Meta:
        model = AlertChannel
        fields = ["kind", "enabled"]


class MaintenanceWindowFilter(django_filters.FilterSet):
    node = django_filters.UUIDFilter(field_name="node_id")
    group = django_filters.UUIDFilter(field_name="group_id")
    active_at = django_filters.IsoDateTimeFilter(method="filter_active_at")

    class Meta:
        model = MaintenanceWindow
        fields = ["node", "group", "active_at"]

    def filter_active_at(self, queryset, name, value):
        return queryset.filter(starts_at__lte=value, ends_at__gt=value)
