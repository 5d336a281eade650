"""Real platform processes for end-to-end tests: a private database (from a cached, migrated
template), the Procfile's web and worker commands, their output kept for failure messages and
for the secret scan."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.hardening.servers import free_port
from tests.plugins import secret_scan

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "var" / "test-templates"


def _migrations_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def procfile(role: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == role:
            return command.strip()
    raise LookupError(f"no {role!r} process in the Procfile")


def _migrate(env: dict) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)


@contextmanager
def private_database(base_env: dict, tmp_path: Path, *, postgres_url: str | None):
    """A migrated database of its own. Migrating takes ~30 s on a loaded machine, so a template
    is migrated once per set of migrations and copied (SQLite file, PostgreSQL TEMPLATE)."""
    key = _migrations_hash()
    env = dict(base_env)
    if postgres_url is None:
        template = TEMPLATES / f"sqlite-{key}.sqlite3"
        if not template.exists():
            TEMPLATES.mkdir(parents=True, exist_ok=True)
            building = template.with_suffix(f".{uuid.uuid4().hex}.tmp")
            _migrate({**env, "DATABASE_URL": f"sqlite:///{building}"})
            building.replace(template)
            for stale in TEMPLATES.glob("sqlite-*.sqlite3"):  # templates of older migrations
                if stale != template:
                    stale.unlink(missing_ok=True)
        database = tmp_path / "db.sqlite3"
        shutil.copyfile(template, database)
        env["DATABASE_URL"] = f"sqlite:///{database}"
        yield env
        return
    import psycopg

    base, _, _name = postgres_url.rpartition("/")
    admin_dsn = f"{base}/postgres"
    template, scratch = f"gs_tpl_{key}", f"gs_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template]).fetchone()
    if not exists:
        building = f"{template}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{building}"')
        _migrate({**env, "DATABASE_URL": f"{base}/{building}"})
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            try:
                admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')
            except psycopg.errors.DuplicateDatabase:  # another run built it meanwhile
                admin.execute(f'DROP DATABASE "{building}"')
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{scratch}" TEMPLATE "{template}"')
    env["DATABASE_URL"] = f"{base}/{scratch}"
    try:
        yield env
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


class Processes:
    """Started processes; `stop()` ends them (SIGTERM to each group, SIGKILL after 20 s)."""

    def __init__(self, env: dict, logs: Path) -> None:
        self.env, self.logs = env, logs
        self.started: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, name: str, command: str, **extra_env) -> subprocess.Popen:
        log = self.logs / f"{name}.log"
        secret_scan.include_log(log)
        with log.open("wb") as out:
            process = subprocess.Popen(["sh", "-c", f"exec {command}"], cwd=ROOT, env={**self.env, **extra_env},
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append((name, process, log))
        return process

    def web(self, name: str) -> str:
        port = free_port()
        self.start(name, procfile("web"), WEB_HOST="127.0.0.1", WEB_PORT=str(port))
        return f"127.0.0.1:{port}"

    def worker(self, name: str) -> None:
        self.start(name, f"{procfile('worker')} -n {name}@%h")

    def wait_until_serving(self, address: str, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.assert_running()
            try:
                if httpx.get(f"http://{address}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{address} did not serve in {timeout} s\n{self.output()}")

    def assert_running(self) -> None:
        dead = [(name, p.returncode) for name, p, _ in self.started if p.poll() is not None]
        assert not dead, f"processes exited: {dead}\n{self.output()}"

    def output(self) -> str:
        return "\n".join(f"--- {name}\n{log.read_text(errors='replace')[-4000:]}" for name, _, log in self.started)

    def stop(self) -> list[str]:
        """Stop everything; the names of processes that needed SIGKILL (none should)."""
        for _name, process, _log in self.started:
            if process.poll() is None:
                process.terminate()  # the main process only: it stops its children itself
        killed = []
        deadline = time.monotonic() + 20
        for name, process, _log in self.started:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
                killed.append(name)
        return killed
