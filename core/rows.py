"""Model rows as JSON-able dicts and back, for caches that hand out real model instances.

`row_of(instance)` keeps each concrete field's value in its string form (`value_to_string`,
None as None); `instance_from_row(model, row)` rebuilds the instance as a query would have
loaded it (`Model.from_db`), the fields the row leaves out deferred: read from the database
on first access, as with `.only()`. So a cached row never answers for a field it lacks.
"""
from django.db import models, router


def row_of(instance: models.Model, *, exclude: frozenset[str] = frozenset()) -> dict:
    row = {}
    for field in instance._meta.concrete_fields:
        if field.name in exclude:
            continue
        value = field.value_from_object(instance)
        row[field.attname] = None if value is None else field.value_to_string(instance)
    return row


def instance_from_row(model: type[models.Model], row: dict) -> models.Model:
    names, values = [], []
    for field in model._meta.concrete_fields:
        if field.attname in row:
            value = row[field.attname]
            names.append(field.attname)
            values.append(None if value is None else field.to_python(value))
    return model.from_db(router.db_for_read(model), names, values)
