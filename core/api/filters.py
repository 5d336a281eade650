"""The filter backend every list uses: django-filter, with typed query values held to their type.

django-filter quietly drops a boolean filter it cannot parse (`?enabled=maybe` lists
everything) and treats an empty typed value as "no filter". Both hide client bugs and make the
OpenAPI schema untrue, so a malformed or empty typed value is a 400 that names the parameter.
"""
import re

import django_filters
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError

BOOLEAN_VALUES = {"true", "false", "1", "0"}
INTEGER = re.compile(r"^-?\d+$")
TYPED_FILTERS = (
    django_filters.BooleanFilter,
    django_filters.UUIDFilter,
    django_filters.NumberFilter,
    django_filters.DateFilter,
    django_filters.DateTimeFilter,
    django_filters.IsoDateTimeFilter,
    django_filters.ChoiceFilter,
    django_filters.ModelChoiceFilter,
)


def _untouched(filterset_class, params) -> bool:
    """No parameter can reach any filter: the FilterSet (a form, validated) would change nothing."""
    if filterset_class.filter_queryset is not django_filters.FilterSet.filter_queryset:
        return False
    filters = filterset_class.base_filters
    if any(f.extra.get("required") for f in filters.values()):
        return False
    # Prefixes, because range filters read suffixed names (`created_at_after`).
    return not any(param.startswith(name) for param in params for name in filters)


class StrictDjangoFilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or _untouched(filterset_class, request.query_params):
            return queryset
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise ValidationError(self._errors_without_echo(filterset.errors, request.query_params))
        return filterset.qs

    @staticmethod
    def _errors_without_echo(errors, params) -> dict:
        """Error messages never repeat what was sent (an id probed from another tenant, markup…)."""
        cleaned = {}
        for name, messages in errors.items():
            sent = [value for value in params.getlist(name) if value]
            cleaned[name] = [
                "Not a valid value for this filter." if any(value in str(m) for value in sent) else str(m)
                for m in messages
            ]
        return cleaned

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            self._check_typed_values(filterset, request.query_params)
        return filterset

    @staticmethod
    def _check_typed_values(filterset, params) -> None:
        errors = {}
        for name, filter_ in filterset.filters.items():
            if name not in params or not isinstance(filter_, TYPED_FILTERS):
                continue
            values = params.getlist(name)
            if len(values) > 1:
                errors[name] = ["Give this parameter once."]
            elif values[0] == "":
                errors[name] = ["Give a value or leave the parameter out."]
            elif isinstance(filter_, django_filters.BooleanFilter) and values[0].lower() not in BOOLEAN_VALUES:
                errors[name] = ["Must be true or false."]
            elif _filters_integer_field(filterset, filter_) and not INTEGER.match(values[0]):
                errors[name] = ["Must be an integer."]
        if errors:
            raise ValidationError(errors)


def _filters_integer_field(filterset, filter_) -> bool:
    if not isinstance(filter_, django_filters.NumberFilter):
        return False
    try:
        field = filterset._meta.model._meta.get_field(filter_.field_name)
    except FieldDoesNotExist:
        return False
    return isinstance(field, models.IntegerField)
