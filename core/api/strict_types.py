"""JSON bodies are typed: a string is not a number, a number is not a string.

DRF's fields coerce (`"12"` → 12, `12` → "12", `"yes"` → True), which makes the OpenAPI
schema lie about what the API accepts and lets sloppy clients drift. For JSON input we reject
the wrong JSON type with a field error; form and query-string input (always strings) keeps
DRF's parsing, so query serializers are unaffected.

Dates and times, JSON or query string, lie between `EARLIEST` and `LATEST`: a date a year or
so from the calendar's ends (`to=0001-01-01`) made the arithmetic behind windows and defaults
(`to - 29 days`, `end - 24 h`, time-zone conversion) raise `OverflowError`, a 500.
"""
import datetime as dt

from django.http import QueryDict
from rest_framework import fields

# field class → JSON types its input must already have
JSON_TYPES: dict[type, tuple[type, ...]] = {
    fields.CharField: (str,),
    fields.BooleanField: (bool,),
    fields.IntegerField: (int,),
    fields.FloatField: (int, float),
    fields.DecimalField: (int, float, str),
}
MESSAGE = "Expected a {expected}, got {actual}."
NAMES = {str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}


def _is_json_input(field) -> bool:
    root = field.root
    initial = getattr(root, "initial_data", None)
    return initial is not None and not isinstance(initial, QueryDict)


def _strict(original, expected: tuple[type, ...]):
    def to_internal_value(self, data):
        wrong_type = not isinstance(data, expected) or (isinstance(data, bool) and bool not in expected)
        if _is_json_input(self) and wrong_type:
            self.fail_strict(expected, data)
        return original(self, data)

    return to_internal_value


def _fail_strict(self, expected, data):
    from rest_framework.exceptions import ValidationError

    names = " or ".join(NAMES.get(t, t.__name__) for t in expected if t is not str or len(expected) == 1)
    raise ValidationError(MESSAGE.format(expected=names or "string", actual=NAMES.get(type(data), type(data).__name__)))


EARLIEST = dt.date(1970, 1, 1)
LATEST = dt.date(9000, 12, 31)
RANGE_MESSAGE = f"Give a date between {EARLIEST} and {LATEST}."


def _bounded(original):
    def to_internal_value(self, data):
        from rest_framework.exceptions import ValidationError

        try:
            value = original(self, data)
        except OverflowError:  # e.g. a time-zone offset pushing 0001-01-01 below the minimum
            raise ValidationError(RANGE_MESSAGE)
        day = value.date() if isinstance(value, dt.datetime) else value
        if not EARLIEST <= day <= LATEST:
            raise ValidationError(RANGE_MESSAGE)
        return value

    to_internal_value._bounded = True
    return to_internal_value


def install() -> None:
    fields.Field.fail_strict = _fail_strict
    for field_class in (fields.DateField, fields.DateTimeField):
        if not getattr(field_class.to_internal_value, "_bounded", False):
            field_class.to_internal_value = _bounded(field_class.to_internal_value)
    for field_class, expected in JSON_TYPES.items():
        if not getattr(field_class.to_internal_value, "_strict", False):
            patched = _strict(field_class.to_internal_value, expected)
            patched._strict = True
            field_class.to_internal_value = patched
