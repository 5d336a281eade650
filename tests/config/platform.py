"""The embedded platform as `make run` starts it: honcho with the project's Procfile (uvicorn,
a Celery worker, beat and the `operator` entry) on a fresh SQLite file and filesystem broker."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HONCHO = ROOT / ".venv" / "bin" / "honcho"
UP_LINE = "Groundstation is up"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def migrated_database(folder: Path) -> Path:
    """A migrated SQLite file (copy it per platform: migrating takes a while)."""
    path = folder / "template.sqlite3"
    if not path.exists():
        env = platform_env(folder, database=path, port=0)
        result = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
    return path


def platform_env(folder: Path, *, database: Path, port: int, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "PYTEST"))}
    for name in ("DATABASE_URL", "REDIS_URL", "LOG_LEVEL", "LOG_FORMAT", "TASK_EVENT_LOG_LEVEL"):
        env.pop(name, None)  # the embedded default, with development logging
    empty = folder / "empty.env"
    empty.touch()
    env.update(
        ENV_FILE=str(empty),  # not the developer's .env
        DEBUG="true",
        SECRET_KEY="dev-run-test-secret-key-0123456789-abcdefghijklmnop",
        DATABASE_URL=f"sqlite:///{database}",
        CELERY_BROKER_FOLDER=str(folder / "broker"),
        WEB_PORT=str(port),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


class Platform:
    def __init__(self, folder: Path, **extra_env: str):
        self.folder = folder
        self.port = free_port()
        database = folder / "db.sqlite3"
        shutil.copy(migrated_database(folder), database)
        self.env = platform_env(folder, database=database, port=self.port, **extra_env)
        self.lines: list[str] = []
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def start(self, timeout: float = 150.0) -> None:
        self.process = subprocess.Popen(
            [str(HONCHO), "start", "--no-colour", "-e", self.env["ENV_FILE"], "-f", "Procfile"],
            cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self.wait_for(lambda: any(UP_LINE in line for line in self.lines), timeout):
            self.kill()
            raise AssertionError(f"the platform did not come up within {timeout:.0f}s:\n{self.output[-6000:]}")

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            if self.process.poll() is not None:
                return predicate()
            time.sleep(0.1)
        return False

    def child_pids(self) -> list[int]:
        return [int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", self.output)]

    def interrupt(self, timeout: float = 30.0) -> float:
        """Ctrl-C: SIGINT to honcho; returns how long until honcho and its children were gone."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"honcho did not stop within {timeout:.0f}s:\n{self.output[-6000:]}")
        return time.monotonic() - started

    def kill(self) -> None:
        """Last resort for a failed test: nothing may outlive it."""
        for pid in self.child_pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) is not running
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
