"""Writes of the catalogue and of interactions (training is in `training.py`).

Both uploads are bulk statements: items are upserted with one INSERT … ON CONFLICT UPDATE per
request, interactions appended with INSERT … ON CONFLICT DO NOTHING (on PostgreSQL from a COPY,
joined to the catalogue there), so a repeated idempotency id is a counted no-op and 10,000
events cost a handful of statements. Every catalogue write moves the tenant's catalogue version,
which is how the web processes' copies of it learn of the change (serving.py).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC

import psycopg
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.api.strict_types import EARLIEST, LATEST
from recommendations import training
from recommendations.models import (
    EXTERNAL_ID_MAX,
    CatalogueVersion,
    Interaction,
    InteractionType,
    Item,
    ItemCategory,
)

MAX_ITEMS_PER_CALL = 1000
MAX_INTERACTIONS_PER_CALL = 10_000
LOOKUP_CHUNK = 2000  # ids per IN (…): well under SQLite's bound on variables
INSERT_CHUNK = 1000  # rows per INSERT: 8 parameters each
ITEM_FIELDS = ("title", "description", "categories", "properties", "hidden")
INTERACTION_FIELDS = {"user_id", "item_id", "type", "value", "timestamp", "id"}
TYPES = set(InteractionType.values)


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)


def _catalogue_changed(tenant) -> None:
    """Move the tenant's catalogue version in the writing transaction: every web process sees
    the new number with its next answer and rebuilds its copy of the items first (serving.py)."""
    meta = CatalogueVersion._meta
    table = connection.ops.quote_name(meta.db_table)
    tenant_column = connection.ops.quote_name(meta.get_field("tenant").column)
    version = connection.ops.quote_name(meta.get_field("version").column)
    tenant_key = meta.get_field("tenant").target_field.get_db_prep_value(tenant.pk, connection)
    with connection.cursor() as cursor:
        # One statement whether or not the row exists yet; names come from the model.
        cursor.execute(f"INSERT INTO {table} ({tenant_column}, {version}) VALUES (%s, 1) "  # noqa: S608
                       f"ON CONFLICT ({tenant_column}) DO UPDATE SET {version} = {table}.{version} + 1",
                       [tenant_key])


def _set_categories(*, tenant, items: Iterable[Item]) -> None:
    items = list(items)
    ItemCategory.objects.filter(item__in=[item.pk for item in items]).delete()
    ItemCategory.objects.bulk_create(
        ItemCategory(tenant=tenant, item_id=item.pk, name=name)
        for item in items for name in dict.fromkeys(item.categories)
    )


@transaction.atomic
def item_upsert_many(*, tenant, items: list[dict], actor=None) -> UpsertResult:
    """Create or update items by the tenant's own id (`external_id`); `items` are validated and
    distinct. Fields an item leaves out keep their stored value on an update."""
    if not items:
        return UpsertResult()
    ids = [item["external_id"] for item in items]
    existing = {item.external_id: item for item in Item.objects.for_tenant(tenant).filter(external_id__in=ids)}
    new, changed = [], []
    for data in items:
        item = existing.get(data["external_id"])
        if item is None:
            new.append(Item(tenant=tenant, created_by=actor, **data))
            continue
        for name in ITEM_FIELDS:
            if name in data:
                setattr(item, name, data[name])
        changed.append(item)
    # A concurrent upload of the same new id turns our insert into an update, never an error.
    Item.objects.bulk_create(new, update_conflicts=True, unique_fields=["tenant", "external_id"],
                             update_fields=list(ITEM_FIELDS))
    now = timezone.now()
    for item in changed:
        item.updated_at = now
    Item.objects.bulk_update(changed, [*ITEM_FIELDS, "updated_at"])
    stored = Item.objects.for_tenant(tenant).filter(external_id__in=ids).only("pk", "categories")
    _set_categories(tenant=tenant, items=stored)
    _catalogue_changed(tenant)
    return UpsertResult(created=len(new), updated=len(changed))


@transaction.atomic
def item_update(*, item: Item, **fields) -> Item:
    for name, value in fields.items():
        setattr(item, name, value)
    item.save()
    if "categories" in fields:
        _set_categories(tenant=item.tenant, items=[item])
    _catalogue_changed(item.tenant)
    return item


@transaction.atomic
def item_delete(*, item: Item) -> None:
    """The item and its interactions go; the catalogue version moves with them, so no answer
    of any process contains it from now on, with or without a retrained model."""
    _catalogue_changed(item.tenant)
    item.delete()


# --- interactions -----------------------------------------------------------------------------

def _identifier(value, name: str, errors: dict, *, required: bool) -> str | None:
    if value is None:
        if required:
            errors[name] = ["This field is required."]
        return None
    if not isinstance(value, str) or not value or len(value) > EXTERNAL_ID_MAX:
        errors[name] = [f"A non-empty string of at most {EXTERNAL_ID_MAX} characters is required."]
        return None
    if not _storable(value):
        errors[name] = ["Null characters and unpaired surrogates are not allowed."]
        return None
    return value


def _storable(text: str) -> bool:
    """PostgreSQL text holds neither NUL nor lone surrogates (which JSON can carry)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _timestamp(value, errors: dict, now):
    if value is None:
        return now
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        errors["timestamp"] = ["An ISO 8601 date and time is required."]
        return None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    if not (EARLIEST <= parsed.date() <= LATEST):
        errors["timestamp"] = [f"Give a date between {EARLIEST} and {LATEST}."]
        return None
    return parsed


def _parse_event(raw, now) -> tuple[tuple | None, dict]:
    """One event checked by hand: DRF's per-field machinery costs ~100 µs an event, which
    10,000 events a call cannot afford. The OpenAPI schema documents the same rules. A valid
    event comes back as (user_id, item_id, type, value, timestamp, event_id)."""
    if not isinstance(raw, dict):
        return None, {"non_field_errors": ["Expected an object."]}
    errors: dict = {}
    if not raw.keys() <= INTERACTION_FIELDS:
        for name in sorted(set(raw) - INTERACTION_FIELDS):
            errors[name] = [f"Unknown field. Fields accepted here: {', '.join(sorted(INTERACTION_FIELDS))}."]
    user_id = _identifier(raw.get("user_id"), "user_id", errors, required=True)
    item_id = _identifier(raw.get("item_id"), "item_id", errors, required=True)
    event_id = _identifier(raw.get("id"), "id", errors, required=False)
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in TYPES:  # an object or a list would not hash
        errors["type"] = [f"One of: {', '.join(InteractionType.values)}."]
    value = raw.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                              or not math.isfinite(value)):
        errors["value"] = ["A finite number is required."]
    timestamp = _timestamp(raw.get("timestamp"), errors, now)
    if errors:
        return None, errors
    return (user_id, item_id, kind, value, timestamp, event_id), {}


def _item_keys(tenant, external_ids: set[str]) -> dict[str, object]:
    ids = list(external_ids)
    found: dict[str, object] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        found.update(Item.objects.for_tenant(tenant).filter(external_id__in=ids[start:start + LOOKUP_CHUNK])
                     .values_list("external_id", "pk"))
    return found


COLUMNS = ["tenant", "user_id", "item", "type", "value", "timestamp", "event_id", "received_at"]
# The staging table: an event's index in the request, then what it said (its item by the tenant's id).
STAGED = ["int4", "varchar", "varchar", "varchar", "float8", "timestamptz", "varchar"]


def _store_postgresql(tenant, events: list[tuple], now) -> tuple[list[int], int]:
    """(indexes of events naming no item, events stored). Binary COPY of the events into a
    transaction-local table; then one statement finds the unknown items and one moves the rest,
    joined to the catalogue, into the table with ON CONFLICT DO NOTHING, counting what it
    stored. The catalogue lookup is a join inside PostgreSQL: an `IN` list of the call's item ids
    cost ~20 ms a call in the driver's placeholder handling alone. Measured with 10,000 events: a
    VALUES list (80,000 parameters) spent seconds in the driver's query conversion, arrays
    through unnest() ~0.7 s quoting; COPY's writer is C."""
    quote = connection.ops.quote_name
    meta, item_meta = Interaction._meta, Item._meta
    table, items = quote(meta.db_table), quote(item_meta.db_table)
    columns = ", ".join(quote(meta.get_field(name).column) for name in COLUMNS)
    staging = quote("recommendations_ingest")
    definition = ", ".join(f"c{n} {kind}" for n, kind in enumerate(STAGED))
    item_match = (f"i.{quote(item_meta.get_field('tenant').column)} = %s"
                  f" AND i.{quote(item_meta.get_field('external_id').column)} = s.c2")
    connection.ensure_connection()
    # A plain psycopg cursor on Django's connection: same transaction, and COPY support.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ({definition}) ON COMMIT DELETE ROWS")
        with cursor.copy(f"COPY {staging} FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(STAGED)
            for row in events:
                copy.write_row(row)
        # Names come from the models; every value came through COPY or is a parameter.
        unknown = [index for (index,) in cursor.execute(
            f"SELECT s.c0 FROM {staging} s WHERE NOT EXISTS (SELECT 1 FROM {items} i WHERE {item_match})",  # noqa: S608
            [tenant.pk])]
        # The staged rows are consumed by the same statement (DELETE … RETURNING), so a second
        # upload in one transaction starts from an empty table.
        stored = cursor.execute(
            f"WITH s AS (DELETE FROM {staging} RETURNING *), stored AS ("  # noqa: S608
            f" INSERT INTO {table} ({columns}) SELECT %s, s.c1, i.{quote(item_meta.pk.column)}, s.c3, s.c4, s.c5,"
            f" s.c6, %s FROM s JOIN {items} i ON {item_match} ON CONFLICT DO NOTHING RETURNING 1)"
            " SELECT count(*) FROM stored", [tenant.pk, now, tenant.pk]).fetchone()[0]
    return unknown, stored


def _store_portable(tenant, events: list[tuple], now) -> tuple[list[int], int]:
    """SQLite: the items looked up by id, then multi-row INSERT … ON CONFLICT DO NOTHING
    RETURNING (SQLite ≥ 3.35): the rows it returns are the ones stored."""
    keys = _item_keys(tenant, {event[2] for event in events})
    unknown = [event[0] for event in events if event[2] not in keys]
    meta = Interaction._meta
    quoted = ", ".join(connection.ops.quote_name(meta.get_field(name).column) for name in COLUMNS)
    table = connection.ops.quote_name(meta.db_table)
    tenant_key = meta.get_field("tenant").target_field.get_db_prep_value(tenant.pk, connection)
    item_field = meta.get_field("item").target_field
    time_field = meta.get_field("timestamp")
    received = time_field.get_db_prep_value(now, connection)
    known = [event for event in events if event[2] in keys]
    stored = 0
    with connection.cursor() as cursor:
        for start in range(0, len(known), INSERT_CHUNK):
            chunk = known[start:start + INSERT_CHUNK]
            params: list = []
            for _index, user_id, item_id, kind, value, timestamp, event_id in chunk:
                params += [tenant_key, user_id, item_field.get_db_prep_value(keys[item_id], connection), kind, value,
                           time_field.get_db_prep_value(timestamp, connection), event_id, received]
            placeholders = ", ".join(["(" + ", ".join(["%s"] * len(COLUMNS)) + ")"] * len(chunk))
            sql = f"INSERT INTO {table} ({quoted}) VALUES {placeholders} ON CONFLICT DO NOTHING RETURNING 1"  # noqa: S608
            cursor.execute(sql, params)
            stored += len(cursor.fetchall())
    return unknown, stored


@transaction.atomic
def interactions_ingest(*, tenant, events: list) -> IngestResult:
    """Store what is valid, reject each bad event with its index and errors; never all-or-nothing.
    Duplicates (an `id` already stored, also by a concurrent upload) are counted exactly."""
    now = timezone.now()
    result = IngestResult()
    valid: list[tuple] = []
    for index, raw in enumerate(events):
        event, errors = _parse_event(raw, now)
        if errors:
            result.rejected.append({"index": index, "errors": errors})
        else:
            valid.append((index, *event))
    if valid:
        store = _store_postgresql if connection.vendor == "postgresql" else _store_portable
        unknown, result.accepted = store(tenant, valid, now)
        result.rejected += [{"index": index, "errors": {"item_id": ["No item with this id."]}} for index in unknown]
        result.rejected.sort(key=lambda rejection: rejection["index"])
        result.duplicates = len(valid) - len(unknown) - result.accepted
    if result.accepted:
        training.train_if_enough_new(tenant)  # the worker starts once this upload commits
    return result
