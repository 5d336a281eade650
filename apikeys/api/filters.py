"""Filters of the apikeys API."""
import django_filters

from apikeys.models import ApiCall, ApiKey


class ApiKeyFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    revoked = django_filters.BooleanFilter(field_name="revoked_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = ApiKey
        fields = ["name", "revoked"]


class ApiCallFilter(django_filters.FilterSet):
    endpoint = django_filters.CharFilter(field_name="route")
    method = django_filters.CharFilter(lookup_expr="iexact")
    status = django_filters.NumberFilter()
    status_min = django_filters.NumberFilter(field_name="status", lookup_expr="gte")
    status_max = django_filters.NumberFilter(field_name="status", lookup_expr="lte")
    api_key = django_filters.UUIDFilter(field_name="api_key_id")
    user = django_filters.UUIDFilter(field_name="user_id")
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ApiCall
        fields = ["endpoint", "method", "status", "api_key", "user"]
