"""A JSON body's unknown fields are refused with a 400 naming each one, never silently ignored.

DRF's serializers drop keys they do not declare, so a misspelt or unsupported field (`permisions`,
a field of another version of the API) looks accepted while nothing happens. Installed once, on
`Serializer.to_internal_value`, this holds for every write endpoint, nested objects and list
items included. Known means declared: read-only fields are accepted and ignored, so an object
read from the API can be sent back. Form and query-string input (QueryDict) keeps DRF's
behaviour: a query string also carries pagination, ordering and filters.
"""
from collections.abc import Mapping

from django.http import QueryDict
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

MESSAGE = "Unknown field. Fields accepted here: {accepted}."


def unknown_fields(serializer: serializers.Serializer, data) -> list[str]:
    if not isinstance(data, Mapping) or isinstance(data, QueryDict):
        return []
    root_input = getattr(serializer.root, "initial_data", None)
    if root_input is None or isinstance(root_input, QueryDict):
        return []
    known = serializer.fields
    return sorted(str(name) for name in data if name not in known)


def _strict(original):
    def to_internal_value(self, data):
        unknown = unknown_fields(self, data)
        if not unknown:
            return original(self, data)
        accepted = ", ".join(name for name, field in self.fields.items() if not field.read_only) or "none"
        errors = {name: [MESSAGE.format(accepted=accepted)] for name in unknown}
        try:  # report the known fields' errors in the same answer
            original(self, data)
        except ValidationError as exc:
            if isinstance(exc.detail, Mapping):
                errors = {**exc.detail, **errors}
        raise ValidationError(errors)

    to_internal_value._strict = True
    return to_internal_value


def install() -> None:
    if not getattr(serializers.Serializer.to_internal_value, "_strict", False):
        serializers.Serializer.to_internal_value = _strict(serializers.Serializer.to_internal_value)
