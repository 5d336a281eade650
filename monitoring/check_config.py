"""What a node's check may declare beyond its target: the JSON-RPC call, the expectation on
its answer, and the metrics read from it. Pure validation (no ORM), shared by the model fields
(so the admin's form validates), the API's serializer and `seed_nodes`.

A path is dotted: `networks.BNB Chain.wrapsToSign` is the keys `networks`, `BNB Chain`,
`wrapsToSign`; a segment of digits also indexes a list. Keys containing a dot cannot be named.
"""
import json
import math

from django.core.exceptions import ValidationError

MAX_METRICS = 20
MAX_METRIC_NAME = 64
MAX_PATH = 200
MAX_METHOD = 100
MAX_PARAMS_BYTES = 4096


def path_segments(path: str) -> list[str]:
    return path.split(".")


def validate_path(path: str) -> None:
    """A dotted path: at most MAX_PATH characters, no empty segment, printable."""
    if not isinstance(path, str) or not path:
        raise ValidationError("Enter a dotted path, e.g. status.db.")
    if len(path) > MAX_PATH:
        raise ValidationError(f"At most {MAX_PATH} characters.")
    if not path.isprintable() or any(not segment.strip() for segment in path_segments(path)):
        raise ValidationError("Use printable characters and no empty segment (no leading, trailing or double dot).")


def validate_optional_path(path: str) -> None:
    if path:
        validate_path(path)


def validate_metrics(value) -> None:
    """`{"name": "dotted.path"}`: at most MAX_METRICS, names of 1–MAX_METRIC_NAME printable
    characters without surrounding spaces."""
    if not isinstance(value, dict):
        raise ValidationError('Enter an object of names to dotted paths, e.g. {"wraps": "networks.BNB Chain.wraps"}.')
    if len(value) > MAX_METRICS:
        raise ValidationError(f"At most {MAX_METRICS} metrics per node.")
    for name, path in value.items():
        if not name or len(name) > MAX_METRIC_NAME or not name.isprintable() or name != name.strip():
            raise ValidationError(
                f"Metric name {name[:MAX_METRIC_NAME]!r}: 1-{MAX_METRIC_NAME} printable characters, "
                "no leading or trailing space."
            )
        try:
            validate_path(path)
        except ValidationError as exc:
            raise ValidationError(f"Metric {name!r}: {exc.messages[0]}") from None


def validate_method(value: str) -> None:
    if value and (len(value) > MAX_METHOD or not value.isprintable() or value != value.strip()):
        raise ValidationError(f"A JSON-RPC method name: 1-{MAX_METHOD} printable characters.")


def validate_params(value) -> None:
    """JSON-RPC 2.0 params: a list (by position) or an object (by name), or none at all."""
    if value is None:
        return
    if not isinstance(value, list | dict):
        raise ValidationError("JSON-RPC params are a list or an object.")
    text = json.dumps(value, ensure_ascii=False)
    try:
        size = len(text.encode())
    except UnicodeEncodeError:  # an unpaired surrogate: JSON carries it, PostgreSQL's jsonb cannot
        raise ValidationError("Use valid Unicode text.") from None
    if "\\u0000" in json.dumps(value):
        raise ValidationError("Text in params cannot contain NUL characters.")
    if size > MAX_PARAMS_BYTES:
        raise ValidationError(f"At most {MAX_PARAMS_BYTES} bytes of JSON.")


def metric_value(value) -> float | None:
    """A recordable number: a finite JSON number (booleans and numeric strings are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
