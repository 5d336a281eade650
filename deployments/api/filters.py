"""Filters of the deployments API."""
import django_filters

from deployments.models import Deployment, DeploymentStatus, Project


class ProjectFilter(django_filters.FilterSet):
    host = django_filters.CharFilter(field_name="host__name")
    enabled = django_filters.BooleanFilter()

    class Meta:
        model = Project
        fields = ["host", "enabled"]


class DeploymentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DeploymentStatus.choices)
    trigger = django_filters.ChoiceFilter(choices=Deployment.Trigger.choices)

    class Meta:
        model = Deployment
        fields = ["status", "trigger"]
