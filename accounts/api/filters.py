"""Filters of the staff users list."""
import django_filters

from accounts.models import User


class StaffUserFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(lookup_expr="icontains")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = User
        fields = ["status", "verification_status", "type", "is_staff"]
