"""Writes of the catalogue and of interactions (training is in `training.py`).

Both uploads are bulk statements: items are upserted with one INSERT … ON CONFLICT UPDATE per
request, interactions appended with multi-row INSERT … ON CONFLICT DO NOTHING RETURNING, so
a repeated idempotency id is a counted no-op and 10,000 events cost a handful of statements.
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


def _parse_event(raw, now) -> tuple[dict | None, dict]:
    """One event checked by hand: DRF's per-field machinery costs ~100 µs an event, which
    10,000 events a call cannot afford. The OpenAPI schema documents the same rules."""
    if not isinstance(raw, dict):
        return None, {"non_field_errors": ["Expected an object."]}
    errors: dict = {}
    unknown = sorted(set(raw) - INTERACTION_FIELDS)
    for name in unknown:
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
    return {"user_id": user_id, "item_id": item_id, "type": kind, "value": value,
            "timestamp": timestamp, "event_id": event_id}, {}


def _item_keys(tenant, external_ids: set[str]) -> dict[str, object]:
    ids = list(external_ids)
    found: dict[str, object] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        found.update(Item.objects.for_tenant(tenant).filter(external_id__in=ids[start:start + LOOKUP_CHUNK])
                     .values_list("external_id", "pk"))
    return found


COLUMNS = ["tenant", "user_id", "item", "type", "value", "timestamp", "event_id", "received_at"]
PG_TYPES = ["uuid", "varchar", "uuid", "varchar", "float8", "timestamptz", "varchar", "timestamptz"]


def _insert_events_postgresql(tenant, rows: list[tuple], table: str, quoted: str) -> int:
    """Binary COPY into a transaction-local table, then one INSERT … SELECT … ON CONFLICT DO
    NOTHING. Measured with 10,000 events: a VALUES list (80,000 parameters) spent seconds in the
    driver's query conversion, arrays through unnest() ~0.7 s quoting; COPY's writer is C."""
    staging = connection.ops.quote_name("recommendations_ingest")
    definition = ", ".join(f"c{n} {kind}" for n, kind in enumerate(PG_TYPES))
    selected = ", ".join(f"c{n}" for n in range(len(PG_TYPES)))
    connection.ensure_connection()
    # A plain psycopg cursor on Django's connection: same transaction, and COPY support.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ({definition}) ON COMMIT DELETE ROWS")
        with cursor.copy(f"COPY {staging} FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(PG_TYPES)
            for row in rows:
                copy.write_row((tenant.pk, *row))
        # Names come from the model; every value came through COPY.
        cursor.execute(f"INSERT INTO {table} ({quoted}) SELECT {selected} FROM {staging} "  # noqa: S608
                       "ON CONFLICT DO NOTHING RETURNING 1")
        stored = len(cursor.fetchall())
        cursor.execute(f"TRUNCATE {staging}")
        return stored


def _insert_events(tenant, rows: list[tuple]) -> int:
    """INSERT … ON CONFLICT DO NOTHING RETURNING (PostgreSQL, SQLite ≥ 3.35): the rows it
    returns are the ones stored, so duplicates are counted exactly, even under races."""
    meta = Interaction._meta
    quoted = ", ".join(connection.ops.quote_name(meta.get_field(name).column) for name in COLUMNS)
    table = connection.ops.quote_name(meta.db_table)
    stored = 0
    if connection.vendor == "postgresql":
        return _insert_events_postgresql(tenant, rows, table, quoted)
    with connection.cursor() as cursor:
        tenant_key = meta.get_field("tenant").target_field.get_db_prep_value(tenant.pk, connection)
        item_field = meta.get_field("item").target_field
        time_field = meta.get_field("timestamp")
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start:start + INSERT_CHUNK]
            params: list = []
            for user_id, item_key, kind, value, timestamp, event_id, received in chunk:
                params += [tenant_key, user_id, item_field.get_db_prep_value(item_key, connection), kind, value,
                           time_field.get_db_prep_value(timestamp, connection), event_id,
                           time_field.get_db_prep_value(received, connection)]
            placeholders = ", ".join(["(" + ", ".join(["%s"] * len(COLUMNS)) + ")"] * len(chunk))
            sql = f"INSERT INTO {table} ({quoted}) VALUES {placeholders} ON CONFLICT DO NOTHING RETURNING 1"  # noqa: S608
            cursor.execute(sql, params)
            stored += len(cursor.fetchall())
    return stored


@transaction.atomic
def interactions_ingest(*, tenant, events: list) -> IngestResult:
    """Store what is valid, reject each bad event with its index and errors; never all-or-nothing."""
    now = timezone.now()
    result = IngestResult()
    parsed: list[tuple[int, dict]] = []
    for index, raw in enumerate(events):
        event, errors = _parse_event(raw, now)
        if errors:
            result.rejected.append({"index": index, "errors": errors})
        else:
            parsed.append((index, event))
    keys = _item_keys(tenant, {event["item_id"] for _index, event in parsed})
    rows = []
    for index, event in parsed:
        item_key = keys.get(event["item_id"])
        if item_key is None:
            result.rejected.append({"index": index, "errors": {"item_id": ["No item with this id."]}})
            continue
        rows.append((event["user_id"], item_key, event["type"], event["value"], event["timestamp"],
                     event["event_id"], now))
    result.rejected.sort(key=lambda rejection: rejection["index"])
    result.accepted = _insert_events(tenant, rows) if rows else 0
    result.duplicates = len(rows) - result.accepted
    if result.accepted:
        training.train_if_enough_new(tenant)  # the worker starts once this upload commits
    return result
