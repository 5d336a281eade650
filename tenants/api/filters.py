"""Filters of the tenants API."""
import django_filters
from django.utils import timezone

from accounts.addresses import normalize_email
from tenants.models import Invitation, Membership, Tenant


class TenantFilter(django_filters.FilterSet):
    class Meta:
        model = Tenant
        fields = ["status"]


class MemberFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(field_name="user__email", lookup_expr="icontains")

    class Meta:
        model = Membership
        fields = ["role"]


class InvitationFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(method="filter_email")
    pending = django_filters.BooleanFilter(method="filter_pending")

    class Meta:
        model = Invitation
        fields = ["role"]

    def filter_email(self, queryset, name, value):
        return queryset.filter(email=normalize_email(value))

    def filter_pending(self, queryset, name, value):
        pending = {"accepted_at__isnull": True, "revoked_at__isnull": True, "expires_at__gt": timezone.now()}
        return queryset.filter(**pending) if value else queryset.exclude(**pending)


class StaffTenantFilter(django_filters.FilterSet):
    plan = django_filters.CharFilter(field_name="plan__slug")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Tenant
        fields = ["status"]
