"""Filters of the files API."""
import django_filters

from files.models import File


class FileFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    content_type = django_filters.CharFilter()
    sha256 = django_filters.CharFilter()
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = File
        fields = ["name", "content_type", "sha256"]
