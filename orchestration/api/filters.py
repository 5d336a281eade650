"""django-filter filtersets of the orchestration API."""

import django_filters

from orchestration.models import Agent, AgentTask, Cluster, Run, RunStatus

# Django's default message repeats the submitted value; an error should never echo input back.
QUIET = {"invalid_choice": "Select a valid choice."}


def choice(choices) -> django_filters.ChoiceFilter:
    return django_filters.ChoiceFilter(choices=choices, error_messages=QUIET)


class ClusterFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    scheduled = django_filters.BooleanFilter(method="filter_scheduled")

    class Meta:
        model = Cluster
        fields = ["name"]

    def filter_scheduled(self, queryset, name, value):
        return queryset.exclude(schedule="") if value else queryset.filter(schedule="")


class RunFilter(django_filters.FilterSet):
    status = choice(RunStatus.choices)
    cluster_id = django_filters.UUIDFilter(field_name="cluster_id")
    trigger = choice(Run.Trigger.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Run
        fields = ["status", "cluster_id", "trigger"]


class ExecutionFilter(django_filters.FilterSet):
    status = choice(RunStatus.choices)
    satellite = django_filters.CharFilter()

    class Meta:
        model = Run
        fields = ["status", "satellite"]


class AgentFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Agent
        fields = ["name", "is_active", "model"]


class AgentTaskFilter(django_filters.FilterSet):
    status = choice(AgentTask.Status.choices)
    agent_id = django_filters.UUIDFilter(field_name="agent_id")

    class Meta:
        model = AgentTask
        fields = ["status", "agent_id"]
