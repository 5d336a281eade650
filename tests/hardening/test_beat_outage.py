"""Family 9: celery beat through database outages (`config/beat.py`).

A real `celery beat` process with a private database and filesystem broker
(tests/orchestration/test_worker_kill.py's `private_env`). On PostgreSQL beat reaches the
database through a TCP proxy the test cuts and restores (every connection closed, new ones
refused); on SQLite the database file is missing at start. What beat sends is read from the
broker folder, so no worker is needed.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.hardening import figures
from tests.hardening.servers import CuttableProxy
from tests.orchestration.test_worker_kill import private_env  # noqa: F401  (fixture, reused)

pytestmark = pytest.mark.worker
ROOT = Path(__file__).resolve().parents[2]


def driver(env, *args) -> dict:
    out = subprocess.run([sys.executable, "-m", "tests.hardening.beat_driver", *args], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def sent(env, key: str) -> int:
    """Messages of the heartbeat task with this key that beat has put on the broker."""
    count = 0
    for path in (Path(env["CELERY_BROKER_FOLDER"]) / "out").iterdir():
        try:
            headers = json.loads(path.read_text())["headers"]
        except (OSError, ValueError, KeyError):
            continue  # being written
        count += headers.get("task") == "monitoring.tasks.heartbeat" and f"'{key}'" in headers.get("kwargsrepr", "")
    return count


class Beat:
    def __init__(self, env, tmp_path: Path):
        self.log = tmp_path / "beat.log"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "INFO", "--max-interval", "1",
                 "-s", str(tmp_path / "beat-schedule"), "--pidfile", str(tmp_path / "beat.pid")],
                cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=log,
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_until(self, predicate, timeout: float, what: str):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if value := predicate():
                return value
            if not self.alive():
                break
            time.sleep(0.25)
        raise AssertionError(f"{what}: not within {timeout}s (beat alive: {self.alive()}); beat log:\n"
                             f"{self.log.read_text()[-6000:]}")

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the proxy stands between beat and PostgreSQL")
def test_beat_outlives_a_postgresql_outage_and_recovers(private_env, tmp_path):  # noqa: F811
    db = connection.settings_dict
    proxy = CuttableProxy(int(db["PORT"] or 5432))
    env = {**private_env, "BEAT_FULL_SYNC_SECONDS": "2",
           "DATABASE_URL": private_env["DATABASE_URL"].replace(f":{db['PORT'] or 5432}/", f":{proxy.port}/")}
    driver(private_env, "probe", "probe-1")
    proxy.cut()  # down when beat starts: the stock scheduler exits at once
    beat = Beat(env, tmp_path)
    try:
        beat.wait_until(lambda: "database is unreachable" in beat.log.read_text(), 60, "beat notices the outage")
        time.sleep(3)
        assert beat.alive(), beat.log.read_text()[-6000:]
        proxy.restore()
        beat.wait_until(lambda: sent(env, "probe-1") >= 2, 60, "beat sends once the database is back")

        # Down mid-run, across several full re-reads of the schedule (every 2 s here, 5 min by default).
        proxy.cut()
        cut_at, before = time.monotonic(), sent(env, "probe-1")
        beat.wait_until(lambda: beat.log.read_text().count("database is unreachable") >= 2, 30, "a failed re-read")
        time.sleep(8)
        assert beat.alive(), beat.log.read_text()[-6000:]
        during = sent(env, "probe-1") - before  # beat kept its schedule meanwhile
        proxy.restore()
        outage = time.monotonic() - cut_at
        driver(private_env, "probe", "probe-2")  # a change only a working database read can reveal
        beat.wait_until(lambda: sent(env, "probe-2") >= 2, 60, "beat reads the schedule again")
        log = beat.log.read_text()
        assert beat.alive()
    finally:
        beat.stop()
        proxy.stop()
    assert during >= 4, during
    assert log.count("database reachable again") >= 2, log[-6000:]
    assert "Traceback" not in log.split("database reachable again")[-1]
    figures.record("faults.beat_database_outage", outage_seconds=round(outage, 1), sent_during_outage=during,
                   failed_reads=log.count("database is unreachable"), recovered=True)


def test_beat_waits_for_a_database_that_is_missing_at_start(private_env, tmp_path):  # noqa: F811
    if private_env["DATABASE_URL"].startswith("sqlite:///"):
        real = Path(private_env["DATABASE_URL"].removeprefix("sqlite:///"))
        parked = real.with_name("parked.sqlite3")
        real.rename(parked)  # SQLite: the directory has no such file yet (beat's reads fail)
        env = {**private_env, "DATABASE_URL": f"sqlite:///{real.parent / 'missing' / real.name}"}
    else:
        proxy = CuttableProxy(int(connection.settings_dict["PORT"] or 5432))
        proxy.cut()
        port = connection.settings_dict["PORT"] or 5432
        env = {**private_env, "DATABASE_URL": private_env["DATABASE_URL"].replace(f":{port}/", f":{proxy.port}/")}
    beat = Beat(env, tmp_path)
    try:
        beat.wait_until(lambda: "database is unreachable" in beat.log.read_text(), 60, "beat notices the outage")
        time.sleep(3)
        assert beat.alive(), beat.log.read_text()[-6000:]  # the stock scheduler raised out of start-up
        if private_env["DATABASE_URL"].startswith("sqlite:///"):
            (real.parent / "missing").mkdir()
            parked.rename(real.parent / "missing" / real.name)
        else:
            proxy.restore()
        driver(env, "probe", "probe-start")
        beat.wait_until(lambda: sent(env, "probe-start") >= 2, 60, "beat sends once the database is there")
    finally:
        beat.stop()
        if not private_env["DATABASE_URL"].startswith("sqlite:///"):
            proxy.stop()
