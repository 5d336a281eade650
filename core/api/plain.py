"""List pages as plain data: the serializer's own output, without its per-row field machinery.

DRF rebuilds a ModelSerializer's fields on every request (model introspection) and walks them
per row through `get_attribute`/`to_representation` with exception handling around each; for a
20-row page of nodes that was about half of the request. Here the fields are built once per
serializer class and thread and compiled into a plan: plain attribute reads for the field types
whose representation is the value itself, the field's own `to_representation` for the others
(date-times, relations, custom fields), nested serializers compiled the same way. A serializer
that overrides `to_representation` is used as it is. The output is the serializer's, key for key
(tests/config/test_hot_lists.py compares them).
"""
import threading
import uuid
from collections.abc import Mapping

from rest_framework import fields, serializers
from rest_framework.relations import PKOnlyObject


def _str(value):
    return value if type(value) is str else str(value)


def _int(value):
    return value if type(value) is int else int(value)


def _uuid(value):
    return str(value) if isinstance(value, uuid.UUID) else value


# Field types whose representation of a non-null value is cheap to reproduce exactly: the
# converter (None: the value itself), applied after a plain attribute read.
CONVERTERS = {fields.CharField: _str, fields.EmailField: _str, fields.IntegerField: _int, fields.ReadOnlyField: None}
BASE_INIT = serializers.BaseSerializer.__init__
BASE_GET_FIELDS = (serializers.ModelSerializer.get_fields, serializers.Serializer.get_fields)
_local = threading.local()


def _compilable(serializer) -> bool:
    """Plain serializers only: no own representation, fields not chosen per instance or request."""
    kind = type(serializer)
    return (
        isinstance(serializer, serializers.Serializer)
        and kind.to_representation is serializers.Serializer.to_representation
        and kind.__init__ is BASE_INIT
        and kind.get_fields in BASE_GET_FIELDS
    )


class _Plan:
    """How to turn one instance into the serializer's dict."""

    def __init__(self, serializer: serializers.Serializer):
        self.serializer = serializer
        self.steps = []
        for field in serializer._readable_fields:
            simple = field.source != "*" and len(field.source_attrs) == 1
            kind = type(field)
            if isinstance(field, serializers.ListSerializer) and _compilable(field.child):
                self.steps.append((field.field_name, field, "many", _Plan(field.child)))
            elif isinstance(field, serializers.Serializer) and _compilable(field):
                self.steps.append((field.field_name, field, "one", _Plan(field)))
            elif simple and kind in CONVERTERS:
                self.steps.append((field.field_name, field.source_attrs[0], "attr", CONVERTERS[kind]))
            elif simple and kind is fields.UUIDField and field.uuid_format == "hex_verbose":
                self.steps.append((field.field_name, field.source_attrs[0], "attr", _uuid))
            elif simple and kind is fields.JSONField and not field.binary:
                self.steps.append((field.field_name, field.source_attrs[0], "attr", None))
            elif simple and kind in (fields.DateTimeField, fields.FloatField, fields.BooleanField, fields.ChoiceField):
                self.steps.append((field.field_name, field.source_attrs[0], "attr", field.to_representation))
            else:
                self.steps.append((field.field_name, field, "field", None))

    def row(self, instance) -> dict:
        out = {}
        mapping = isinstance(instance, Mapping)
        for name, how, kind, nested in self.steps:
            if kind == "attr":
                value = instance[how] if mapping else getattr(instance, how)
                if callable(value):
                    break  # a method as source: DRF's own path below calls it
                out[name] = value if value is None or nested is None else nested(value)
            elif kind == "field":
                try:
                    attribute = how.get_attribute(instance)
                except fields.SkipField:
                    continue
                check = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
                out[name] = None if check is None else how.to_representation(attribute)
            else:
                value = how.get_attribute(instance)
                if kind == "one":
                    out[name] = None if value is None else nested.row(value)
                else:
                    items = value.all() if hasattr(value, "all") else value
                    out[name] = [nested.row(item) for item in items]
        else:
            return out
        return self.serializer.to_representation(instance)


def plain_rows(serializer_class, instances, context: dict) -> list[dict]:
    """What `serializer_class(instances, many=True, context=context).data` returns, faster."""
    plans = getattr(_local, "plans", None)
    if plans is None:
        plans = _local.plans = {}
    plan = plans.get(serializer_class)
    if plan is None:
        serializer = serializer_class(context=context)
        if not _compilable(serializer):
            return serializer_class(instances, many=True, context=context).data
        plan = plans[serializer_class] = _Plan(serializer)
    # Fields read the context through their root serializer: this request's, on this thread.
    plan.serializer._context = context
    return [plan.row(instance) for instance in instances]


class PlainListSerializer:
    """Stands in for `get_serializer(page, many=True)` in list actions: only `.data` is read."""

    def __init__(self, serializer_class, instances, context: dict):
        self.serializer_class, self.instances, self.context = serializer_class, instances, context

    @property
    def data(self) -> list[dict]:
        return plain_rows(self.serializer_class, self.instances, self.context)
