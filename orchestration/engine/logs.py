"""A step's log lines: appended in their own tiny statements, secrets masked, long values summarised."""

from __future__ import annotations

import json

from orchestration import step_sql
from orchestration.clock import now
from orchestration.engine.transactions import retrying
from orchestration.models import StepLog

MAX_LOG_CHARS = 4000


def summary(value, limit: int = 200) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mask(value, secrets: list[str]):
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {k: mask(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, secrets) for v in value]
    return value


def step_log(*, run_id, step_id: str, attempt: int, message: str, level: str = StepLog.Level.INFO) -> None:
    """Append one log line to a step (its own tiny transaction)."""
    line = StepLog(run_id=run_id, step_id=step_id, attempt=attempt, level=level, message=message)
    retrying(lambda: write_logs([line]))


def write_logs(rows: list[StepLog]) -> None:
    """Append several log lines in one statement."""
    step_sql.append_logs(
        [(row.run_id, row.step_id, row.attempt, row.level, row.message[:MAX_LOG_CHARS]) for row in rows],
        created_at=now(),
    )
