"""The statements a worker runs for every step, written out by hand.

They run once per step, so they skip the ORM's query building (measured at a third of a
step's cost in `bench/orchestration_bench.py`). Table and column names come from the models;
every value is a parameter, converted by its model field. Works on PostgreSQL and SQLite
(3.35+ for `RETURNING`).
"""

from __future__ import annotations

from django.db import connection

from orchestration.models import Run, RunStatus, StepLog, StepRun, StepStatus

STEP = StepRun._meta.db_table
RUN = Run._meta.db_table
LOG = StepLog._meta.db_table


def _prep(model, name: str, value):
    if value is None:
        return None
    return model._meta.get_field(name).get_db_prep_save(value, connection)


def record_attempt(*, run_pk, step_pk, task_id: str, expected_status: str, fields: dict) -> bool:
    """Set `fields` on the step if it is still in `expected_status` under `task_id` and its run
    is running. Takes the run's row lock in share mode first (PostgreSQL), the same order as
    operator actions (run, then steps), so completions never deadlock with a cancel."""
    assignments = ", ".join(f"{StepRun._meta.get_field(name).column} = %s" for name in fields)
    values = [_prep(StepRun, name, value) for name, value in fields.items()]
    share = " FOR SHARE" if connection.vendor == "postgresql" else ""
    sql = (
        f"UPDATE {STEP} SET {assignments} WHERE id = %s AND task_id = %s AND status = %s "  # noqa: S608
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
    """Decrement the dependents' counters of unfinished (and failed) upstream steps; returns
    (id, step_id, attempts, failed_deps, is_handler, status, remaining_deps) per dependent.
    The row locks this takes are what serialise completions feeding the same join."""
    placeholders = ", ".join(["%s"] * len(dependents))
    sql = (
        f"UPDATE {STEP} SET remaining_deps = remaining_deps - 1, failed_deps = failed_deps + %s "  # noqa: S608
        f"WHERE run_id = %s AND step_id IN ({placeholders}) "
        "RETURNING id, step_id, attempts, failed_deps, is_handler, status, remaining_deps"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [1 if failed else 0, _prep(Run, "id", run_pk), *dependents])
        return [(*row[:4], bool(row[4]), *row[5:]) for row in cursor.fetchall()]


def queue_one(*, step_pk, task_id: str, queued_at) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {STEP} SET status = %s, task_id = %s, queued_at = %s WHERE id = %s",  # noqa: S608
            [StepStatus.QUEUED, task_id, _prep(StepRun, "queued_at", queued_at), _prep(StepRun, "id", step_pk)],
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
            f"INSERT INTO {LOG} (run_id, step_id, attempt, level, message, created_at) "  # noqa: S608
            f"VALUES {placeholders}",
            values,
        )
