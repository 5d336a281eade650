"""Figures of the hardening suites, merged into `artifacts/hardening-figures.json`.

docs/reliability.md quotes them; each test records its own family's counts after asserting.
"""
import fcntl
import json
from pathlib import Path

from django.db import connection

ARTIFACT = Path(__file__).resolve().parents[2] / "artifacts" / "hardening-figures.json"


def record(name: str, **figures) -> None:
    ARTIFACT.parent.mkdir(exist_ok=True)
    # Several runs (SQLite and PostgreSQL) may record at once: read-modify-write under a lock.
    with open(ARTIFACT.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(ARTIFACT.read_text()) if ARTIFACT.exists() else {}
        data.setdefault(connection.vendor, {})[name] = figures
        ARTIFACT.write_text(json.dumps(data, indent=2, sort_keys=True))
