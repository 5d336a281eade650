"""The README's production web command, run as a real server process (bench/production.py).

- a local client cannot pick its own rate-limit bucket with `X-Forwarded-For` (the server's own
  proxy-header handling is off; the client address comes only from `TRUSTED_PROXIES`);
- on PostgreSQL, requests reuse a bounded set of pooled connections instead of opening one
  each, and a request that finds the pool exhausted answers 503 with `Retry-After`.
"""
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

from bench.production import readme_web_command
from tests.hardening.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.worker  # starts real processes
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")


def _admin_dsn() -> dict:
    db = settings.DATABASES["default"]
    return {"host": db["HOST"] or "127.0.0.1", "port": db["PORT"] or 5432, "user": db["USER"],
            "password": db["PASSWORD"]}


@pytest.fixture(scope="module")
def private_env(tmp_path_factory):
    """A migrated scratch database with a tenant, an API key and 20 nodes; no shared Redis."""
    tmp = tmp_path_factory.mktemp("server")
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL")}
    env.update(CELERY_BROKER_URL="filesystem://", CELERY_BROKER_FOLDER=str(tmp / "broker"), DEBUG="false",
               SECRET_KEY="server-test-secret-key-not-for-production-0123456789", ALLOWED_HOSTS="127.0.0.1",
               SECURE_SSL_REDIRECT="false", LOG_LEVEL="WARNING", ENV_FILE=str(tmp / "empty.env"))
    (tmp / "empty.env").write_text("")
    scratch = None
    if connection.vendor == "postgresql":
        import psycopg

        dsn = _admin_dsn()
        scratch = f"gs_server_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(dbname="postgres", autocommit=True, **dsn) as admin:
            admin.execute(f'CREATE DATABASE "{scratch}"')
        auth = f"{dsn['user']}:{dsn['password']}@" if dsn["password"] else f"{dsn['user']}@"
        env["DATABASE_URL"] = f"postgres://{auth}{dsn['host']}:{dsn['port']}/{scratch}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'db.sqlite3'}"
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
        out = subprocess.run([sys.executable, "-m", "bench.load_driver", "setup", "1", "", "20", "9"], cwd=ROOT,
                             env=env, check=True, capture_output=True, text=True, timeout=120)
        env["GS_TEST_KEY"] = json.loads(out.stdout.strip().splitlines()[-1])["keys"][0]["secret"]
        env["GS_TEST_DB"] = scratch or ""
        yield env
    finally:
        if scratch:
            import psycopg

            with psycopg.connect(dbname="postgres", autocommit=True, **_admin_dsn()) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


@contextlib.contextmanager
def production_server(env: dict, **overrides: str):
    """The README's command with one process; yields (base URL, the server's output so far)."""
    port = free_port()
    log = Path(env["CELERY_BROKER_FOLDER"]).parent / f"server-{port}.log"
    with log.open("w") as sink:
        server = subprocess.Popen(readme_web_command(port=port, workers=1), cwd=ROOT, env={**env, **overrides},
                                  stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, f"the server exited: {log.read_text()}"
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"the server did not come up: {log.read_text()}"
            time.sleep(0.2)
        yield base, log.read_text
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def test_a_local_client_cannot_choose_its_rate_limit_bucket_with_x_forwarded_for(private_env):
    # A per-day budget, so no window boundary falls inside the test.
    with production_server(private_env, AUTH_IP_RATE_LIMIT="5/d", AUTH_RATE_LIMIT="100/d") as (base, output):
        statuses = []
        for i in range(12):
            response = httpx.post(f"{base}/api/v1/auth/password/reset", json={"email": f"x{i}@example.com"},
                                  headers={"X-Forwarded-For": f"10.0.{i}.1"}, timeout=30)
            statuses.append(response.status_code)
        assert all(code < 300 for code in statuses[:5]), (statuses, output())
        assert statuses[5:] == [429] * 7, (statuses, output())


def _backends(admin, database: str) -> set[tuple]:
    rows = admin.execute("SELECT pid, backend_start FROM pg_stat_activity WHERE datname = %s", [database])
    return set(rows.fetchall())


@postgres_only
def test_requests_reuse_a_bounded_set_of_pooled_connections(private_env):
    import psycopg

    pool_size, requests = 6, 300
    seen: set[tuple] = set()
    done = threading.Event()
    with production_server(private_env, WEB_THREADS="4", DATABASE_POOL_SIZE=str(pool_size)) as (base, output), \
            psycopg.connect(dbname="postgres", autocommit=True, **_admin_dsn()) as admin:

        def sample():
            while not done.is_set():
                seen.update(_backends(admin, private_env["GS_TEST_DB"]))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        headers = {"Authorization": f"Bearer {private_env['GS_TEST_KEY']}"}
        try:
            with httpx.Client(base_url=base, headers=headers, timeout=60,
                              limits=httpx.Limits(max_connections=8)) as client, ThreadPoolExecutor(8) as pool:
                statuses = Counter(pool.map(lambda _: client.get("/api/v1/nodes?page_size=20").status_code,
                                            range(requests)))
        finally:
            done.set()
            sampler.join()
        assert statuses == {200: requests}, (statuses, output())
        # One connection per request would show up to 300 backends; the pool bounds them.
        assert 1 <= len(seen) <= pool_size, (len(seen), output())


@postgres_only
def test_an_exhausted_pool_answers_503_with_retry_after(private_env):
    import psycopg

    headers = {"Authorization": f"Bearer {private_env['GS_TEST_KEY']}"}
    overrides = {"WEB_THREADS": "4", "DATABASE_POOL_SIZE": "1", "DATABASE_POOL_TIMEOUT_SECONDS": "0.5"}
    with production_server(private_env, **overrides) as (base, output), \
            psycopg.connect(dbname=private_env["GS_TEST_DB"], **_admin_dsn()) as locker, \
            ThreadPoolExecutor(1) as pool:
        assert httpx.get(f"{base}/api/v1/nodes", headers=headers, timeout=30).status_code == 200  # warm key
        locker.execute("LOCK TABLE monitoring_node IN ACCESS EXCLUSIVE MODE")
        # The first request takes the only pooled connection and waits on the lock...
        holder = pool.submit(httpx.get, f"{base}/api/v1/nodes", headers=headers, timeout=60)
        deadline = time.monotonic() + 30
        while not locker.execute(
            "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock' AND pid <> %s",
            [private_env["GS_TEST_DB"], locker.info.backend_pid],
        ).fetchone():
            assert time.monotonic() < deadline, output()
            time.sleep(0.05)
        # ...so the next one finds the pool exhausted.
        refused = httpx.get(f"{base}/api/v1/nodes", headers=headers, timeout=30)
        locker.rollback()
        assert holder.result().status_code == 200
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "1"
    body = refused.json()["error"]
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert "connection limit" in body["message"]
    assert "too many clients" not in refused.text
