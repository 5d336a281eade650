"""The statements a worker runs for every step, written out by hand.

They run once per step, so they skip the ORM's query building (measured at a third of a
step's cost in `bench/orchestration_bench.py`). Table and column names come from the models;
every value is a parameter, converted by its model field. Works on PostgreSQL and SQLite
(3.35+ for `RETURNING`).
"""
# ruff: noqa: S608 — SQL is assembled from model table/column names only; values are parameters.

from __future__ import annotations

import json
from enum import Enum

from django.db import connection

from orchestration.models import Run, RunStatus, StepLog, StepRun, StepStatus

STEP = StepRun._meta.db_table
RUN = Run._meta.db_table
LOG = StepLog._meta.db_table


def single_statement() -> bool:
    """Whether `complete` is one statement (atomic on its own) rather than three."""
    return connection.vendor == "postgresql"


def _prep(model, name: str, value):
    if value is None:
        return None
    value = model._meta.get_field(name).get_db_prep_save(value, connection)
    return value.value if isinstance(value, Enum) else value


def _fetch_prepared(sql: str, params: list) -> list[tuple]:
    """Run a PostgreSQL statement as a server-side prepared statement: it is planned once per
    connection rather than on every step (planning this statement costs about as much as
    running it). Django's cursors bind parameters client-side, so this uses psycopg's own."""
    import psycopg

    params = [value.value if isinstance(value, Enum) else value for value in params]
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()


def record_attempt(*, run_pk, step_pk, task_id: str, expected_status: str, fields: dict) -> bool:
    """Set `fields` on the step if it is still in `expected_status` under `task_id` and its run
    is running. Takes the run's row lock in share mode first (PostgreSQL), the same order as
    operator actions (run, then steps), so completions never deadlock with a cancel."""
    assignments = ", ".join(f"{StepRun._meta.get_field(name).column} = %s" for name in fields)
    values = [_prep(StepRun, name, value) for name, value in fields.items()]
    share = " FOR SHARE" if connection.vendor == "postgresql" else ""
    sql = (
        f"UPDATE {STEP} SET {assignments} WHERE id = %s AND task_id = %s AND status = %s "
        f"AND EXISTS (SELECT 1 FROM {RUN} WHERE id = %s AND status = %s{share})"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                *values,
                _prep(StepRun, "id", step_pk),
                task_id,
                expected_status,
                _prep(Run, "id", run_pk),
                RunStatus.RUNNING,
            ],
        )
        return cursor.rowcount == 1


def count_down(*, run_pk, dependents: list[str], failed: bool) -> list[tuple]:
    """Decrement the pending dependents' counters of unfinished (and failed) upstream steps (a
    dependent that already ran — kept by a retry of the run — is left alone); returns
    (id, step_id, attempts, failed_deps, is_handler, status, remaining_deps, task_id) per
    dependent. The row locks this takes are what serialise completions feeding the same join."""
    placeholders = ", ".join(["%s"] * len(dependents))
    sql = (
        f"UPDATE {STEP} SET remaining_deps = remaining_deps - 1, failed_deps = failed_deps + %s "
        f"WHERE run_id = %s AND step_id IN ({placeholders}) AND status = %s "
        "RETURNING id, step_id, attempts, failed_deps, is_handler, status, remaining_deps, task_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [1 if failed else 0, _prep(Run, "id", run_pk), *dependents, StepStatus.PENDING])
        return [(*row[:4], bool(row[4]), *row[5:]) for row in cursor.fetchall()]


def queue(*, tokens: list[tuple], queued_at, batch_size: int = 500) -> None:
    """Mark steps queued under their claim tokens: [(step pk, token), ...]. One statement per
    batch (Django's bulk_update builds a CASE per row, which costs seconds for a 1,000-wide
    fan-out)."""
    stamp = _prep(StepRun, "queued_at", queued_at)
    with connection.cursor() as cursor:
        for start in range(0, len(tokens), batch_size):
            batch = tokens[start : start + batch_size]
            values = ", ".join(["(%s, %s)"] * len(batch))
            params = [StepStatus.QUEUED, stamp]
            for step_pk, token in batch:
                params += [_prep(StepRun, "id", step_pk), token]
            cursor.execute(
                f"UPDATE {STEP} SET status = %s, queued_at = %s, task_id = batch.column2, redeliveries = 0 "
                f"FROM (VALUES {values}) AS batch WHERE {STEP}.id = batch.column1",
                params,
            )


def insert_steps(*, run_pk, rows: list[tuple]) -> None:
    """Create a run's steps, pending: [(step id, satellite, position, is_handler, remaining_deps)].

    On PostgreSQL one statement over a JSON document: building a 1,000-wide fan-out's rows through the
    ORM cost 100 ms of Python in the trigger (every field of every row prepared one by one)."""
    if connection.vendor != "postgresql":
        StepRun.objects.bulk_create(
            [
                StepRun(run_id=run_pk, step_id=sid, satellite=sat, position=pos, is_handler=hnd, remaining_deps=deps)
                for sid, sat, pos, hnd, deps in rows
            ],
            batch_size=500,
        )
        return
    steps = [
        {"step_id": sid, "satellite": sat, "position": pos, "is_handler": hnd, "remaining_deps": deps}
        for sid, sat, pos, hnd, deps in rows
    ]
    # The model's defaults for every other column, spelled out: the table has no defaults.
    defaults = {"status": StepStatus.PENDING, "attempts": 0, "failed_deps": 0, "error": "", "task_id": ""}
    defaults.update(worker="", redeliveries=0)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {STEP} (id, run_id, step_id, satellite, position, is_handler, remaining_deps, "
            f"{', '.join(defaults)}) SELECT gen_random_uuid(), %s, step_id, satellite, position, is_handler, "
            f"remaining_deps, {', '.join(['%s'] * len(defaults))} FROM jsonb_to_recordset(%s::jsonb) "
            "AS step(step_id varchar, satellite varchar, position integer, is_handler boolean, remaining_deps integer)",
            [_prep(Run, "id", run_pk), *defaults.values(), json.dumps(steps)],
        )


def append_logs(rows: list[tuple], *, created_at) -> None:
    """Insert log lines (run_pk, step_id, attempt, level, message) in one statement."""
    if not rows:
        return
    stamp = _prep(StepLog, "created_at", created_at)
    values = []
    for run_pk, step_id, attempt, level, message in rows:
        values += [_prep(Run, "id", run_pk), step_id, attempt, level, message, stamp]
    placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {LOG} (run_id, step_id, attempt, level, message, created_at) VALUES {placeholders}",
            values,
        )


def complete(
    *,
    run_pk,
    step_pk,
    task_id: str,
    expected_status: str,
    fields: dict,
    logs: list[tuple],
    created_at,
    dependents: list[str],
    failed: bool,
    durable: bool = True,
) -> tuple[bool, list[tuple]]:
    """Record an attempt, append its log lines and count down its dependents, all only if the
    attempt is still current (see `record_attempt`). Returns (recorded, `count_down` rows);
    on PostgreSQL, rows already `queued` were queued by this statement (send them).

    On PostgreSQL this is one statement (data-modifying CTEs), atomic on its own, so a step's
    completion costs one round trip; elsewhere it is three statements (run them in a
    transaction).

    `durable=False` commits it asynchronously (PostgreSQL, outside a transaction block): it
    returns before its WAL reaches the disk, sparing the step the flush, which cost as much
    as the rest of its completion. Only for a pure step's outcome: a PostgreSQL crash may lose
    the last fraction of a second of such records, and the reaper sends those steps again
    (`steps_resend`), which repeats no side effect. Whatever acts on them commits
    synchronously — an impure step's claim, a run's status change, operator actions — and a
    synchronous commit flushes all the WAL before it, so nothing durable rests on a lost record.
    """
    if connection.vendor != "postgresql":
        if not record_attempt(
            run_pk=run_pk, step_pk=step_pk, task_id=task_id, expected_status=expected_status, fields=fields
        ):
            return False, []
        append_logs(logs, created_at=created_at)
        return True, (count_down(run_pk=run_pk, dependents=dependents, failed=failed) if dependents else [])
    # psycopg adapts str, int, UUID and aware datetimes itself; only JSON needs Django's help.
    run_value = run_pk
    assignments = ", ".join(f"{StepRun._meta.get_field(name).column} = %s" for name in fields)
    params = [_prep(StepRun, name, value) if name == "output" else value for name, value in fields.items()]
    params += [step_pk, task_id, expected_status, run_value, RunStatus.RUNNING]
    ctes = [
        f"attempt AS (UPDATE {STEP} SET {assignments} WHERE id = %s AND task_id = %s AND status = %s "
        f"AND EXISTS (SELECT 1 FROM {RUN} WHERE id = %s AND status = %s FOR SHARE) RETURNING id)"
    ]
    if logs:
        stamp = created_at
        rows = ", ".join(["(%s::uuid, %s, %s::integer, %s, %s, %s::timestamptz)"] * len(logs))
        ctes.append(
            f"logs AS (INSERT INTO {LOG} (run_id, step_id, attempt, level, message, created_at) "
            f"SELECT * FROM (VALUES {rows}) AS line WHERE EXISTS (SELECT 1 FROM attempt))"
        )
        for _run, step_id, attempt, level, message in logs:
            params += [run_value, step_id, attempt, level, message, stamp]
    if dependents:
        # A dependent whose last upstream step this was, with no failed upstream step and not an
        # on_failure handler, is queued right here under a fresh claim token; the others that
        # became ready (skip or handler rules) are left to the engine.
        clean = "status = %s AND remaining_deps = 1 AND failed_deps + %s = 0 AND NOT is_handler"
        ctes.append(
            f"counted AS (UPDATE {STEP} SET remaining_deps = remaining_deps - 1, failed_deps = failed_deps + %s, "
            f"status = CASE WHEN {clean} THEN %s ELSE status END, "
            f"task_id = CASE WHEN {clean} THEN replace(gen_random_uuid()::text, '-', '') ELSE task_id END, "
            f"queued_at = CASE WHEN {clean} THEN %s ELSE queued_at END "
            f"WHERE run_id = %s AND step_id IN ({', '.join(['%s'] * len(dependents))}) AND status = %s "
            "AND EXISTS (SELECT 1 FROM attempt) "
            "RETURNING id, step_id, attempts, failed_deps, is_handler, status, remaining_deps, task_id)"
        )
        failed_value = 1 if failed else 0
        when = [StepStatus.PENDING, failed_value]
        params += [failed_value, *when, StepStatus.QUEUED, *when, *when, created_at]
        params += [run_value, *dependents, StepStatus.PENDING]
        select = "SELECT (SELECT count(*) FROM attempt), counted.* FROM {one} AS one LEFT JOIN counted ON true"
    else:
        select = "SELECT (SELECT count(*) FROM attempt) FROM {one} AS one"
    # set_config(…, true) lasts until the statement's own (implicit) transaction commits, and
    # the commit reads it: this statement alone commits asynchronously, the session is unchanged.
    asynchronous = not durable and not connection.in_atomic_block
    one = "(SELECT set_config('synchronous_commit', 'off', true))" if asynchronous else "(SELECT 1)"
    select = select.format(one=one)
    rows = _fetch_prepared("WITH " + ", ".join(ctes) + " " + select, params)
    if not rows or not rows[0][0]:
        return False, []
    if not dependents:
        return True, []
    return True, [(*row[1:5], bool(row[5]), *row[6:]) for row in rows if row[1] is not None]
