"""A worker SIGKILLed in the middle of a step: the step's side effect happens exactly once.

Everything runs out of process against a private database (a scratch PostgreSQL database when
the tests run on PostgreSQL, else a SQLite file) and a private filesystem broker, because the
in-memory test database cannot be shared with a worker process.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.orchestration.servers import Recorder, json_api_handler, serve

pytestmark = pytest.mark.worker
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def private_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL")}
    env.update(
        CELERY_BROKER_URL="filesystem://",
        CELERY_BROKER_FOLDER=str(tmp_path / "broker"),
        OUTBOUND_ALLOW_PRIVATE="true",
        LOG_LEVEL="WARNING",
        SECRET_KEY=settings.SECRET_KEY,
        DEBUG="false",
    )
    scratch = None
    if connection.vendor == "postgresql":
        import psycopg

        db = settings.DATABASES["default"]
        scratch = f"gs_kill_{uuid.uuid4().hex[:10]}"
        dsn = {
            "host": db["HOST"] or "127.0.0.1",
            "port": db["PORT"] or 5432,
            "user": db["USER"],
            "password": db["PASSWORD"],
        }
        with psycopg.connect(dbname="postgres", autocommit=True, **dsn) as admin:
            admin.execute(f'CREATE DATABASE "{scratch}"')
        auth = f"{dsn['user']}:{dsn['password']}@" if dsn["password"] else f"{dsn['user']}@"
        env["DATABASE_URL"] = f"postgres://{auth}{dsn['host']}:{dsn['port']}/{scratch}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=240)
    yield env
    if scratch:
        import psycopg

        with psycopg.connect(dbname="postgres", autocommit=True, **dsn) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def driver(env, *args) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "tests.orchestration.kill_driver", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def start_worker(env, name: str, *options: str, log=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            *(options or ("-P", "solo")),
            "-n",
            f"{name}@%h",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log,
        stderr=log,
    )


def wait_until(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_worker_never_repeats_a_steps_side_effect(private_env):
    recorder = Recorder()
    server, base = serve(json_api_handler(recorder, delay=30))  # holds the step mid-flight
    first = second = None
    try:
        ids = driver(private_env, "setup", f"{base}/charge")
        first = start_worker(private_env, "first")
        wait_until(lambda: recorder.requests, 60, "the side effect")
        os.killpg(first.pid, signal.SIGKILL)  # mid-step: the request was made, no result recorded
        first.wait(10)
        assert driver(private_env, "state", ids["run_id"])["steps"]["effect"] == {
            "status": "running",
            "attempts": 1,
            "error": "",
        }

        driver(private_env, "redeliver", ids["step_pk"])
        second = start_worker(private_env, "second")
        inbox = Path(private_env["CELERY_BROKER_FOLDER"]) / "out"
        wait_until(lambda: not any(inbox.iterdir()), 60, "the redelivered message to be consumed")
        time.sleep(1)
        state = driver(private_env, "state", ids["run_id"])
        assert state["steps"]["effect"]["attempts"] == 1  # the duplicate delivery did not claim it

        # The reaper times the orphaned step out; the run carries on (all_done) and ends.
        assert driver(private_env, "reap") == {"reaped": 1}
        state = wait_until(
            lambda: (s := driver(private_env, "state", ids["run_id"]))["status"] != "running" and s,
            60,
            "the run to end",
        )
    finally:
        server.shutdown()
        for worker in (first, second):
            if worker and worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(15)
    assert len(recorder.requests) == 1
    assert state["steps"]["effect"]["status"] == "timed_out"
    assert state["steps"]["after"] == {"status": "succeeded", "attempts": 1, "error": ""}
    assert state["status"] == "timed_out"


def test_a_pure_step_that_kills_every_worker_fails_after_a_bounded_number_of_redeliveries(private_env, tmp_path):
    """A pure step is not claimed, so a lost worker leaves it `queued` and the broker hands the
    message out again (acks_late, reject_on_worker_lost): without a bound it would kill worker
    after worker for ever. ORCHESTRATION_MAX_REDELIVERIES=2: it runs 1 + 2 times, then fails."""
    env = {**private_env, "CRASH_LOG": str(tmp_path / "crashes"), "ORCHESTRATION_MAX_REDELIVERIES": "2"}
    ids = driver(env, "crash")
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        worker = start_worker(
            env, "crasher", "-P", "prefork", "-c", "1", "-I", "tests.orchestration.crash_satellite", log=log
        )
        try:
            state = wait_until(
                lambda: (s := driver(env, "state", ids["run_id"]))["status"] != "running" and s,
                120,
                "the execution to end",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; worker log:\n{log_path.read_text()[-4000:]}") from None
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(15)
    runs = (tmp_path / "crashes").read_text().split()
    assert len(runs) == 3, runs
    assert len(set(runs)) == 3  # each run killed a fresh worker process
    assert state["status"] == "failed"
    assert state["steps"]["main"]["status"] == "failed"
    assert state["steps"]["main"]["error"] == (
        "its worker was lost 3 times while running it (killed, out of memory or past its hard time limit): "
        "given up after 2 redeliveries"
    )
