"""Files: upload (tus) and download throughput of a big file through the API, against copying
the same file on disk, and the web processes' peak memory during both.

    .venv/bin/python bench/files_bench.py [--size-mib 1024] [--chunk-mib 64] [--workers 2]

Runs the README's production web command (`bench/production.py`: uvicorn, `--workers` replaced)
on PostgreSQL (`BENCH_PG`, a scratch database `gs_files_bench`) and Redis (`BENCH_REDIS_URL`,
default db 5), `DEBUG=false`, the folder backend in a scratch folder, rate limits off; polls
the RSS of every web worker process every 20 ms. Checks the sha256 end to end and that the
download is in the access log (buffered, flushed by the listing).
"""
import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import requests
from tusclient import client as tus

sys.path.insert(0, str(Path(__file__).resolve().parent))
from production import readme_web_command  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv/bin/python")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
DATABASE = "gs_files_bench"
SETUP = """
from apikeys.services import api_key_create
from tenants.models import Tenant
tenant = Tenant.objects.create(name="bench", slug="bench")
print(api_key_create(tenant=tenant, name="bench", scopes=["read", "write"])[1])
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def workers_of(pid: int) -> list[int]:
    """uvicorn's worker processes: the children it spawned (not multiprocessing's resource tracker)."""
    children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [child for child in children if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]


class PeakMemory(threading.Thread):
    """The largest growth of any one web worker's RSS over its idle size."""

    def __init__(self, pids: list[int]):
        super().__init__(daemon=True)
        self.idle = {pid: rss_kib(pid) for pid in pids}
        self.peak = dict(self.idle)
        self.running = True

    def run(self):
        while self.running:
            for pid in self.peak:
                self.peak[pid] = max(self.peak[pid], rss_kib(pid))
            time.sleep(0.02)

    def growth_kib(self) -> int:
        return max(self.peak[pid] - self.idle[pid] for pid in self.peak)

    def reset(self):
        self.peak = {pid: rss_kib(pid) for pid in self.peak}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--chunk-mib", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    scratch = Path(tempfile.mkdtemp(prefix="gs-files-bench-"))
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    (scratch / "empty.env").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CELERY_", "WEB_"))}
    env.update(DATABASE_URL=f"{PG}/{DATABASE}", REDIS_URL=REDIS_URL, ENV_FILE=str(scratch / "empty.env"),
               FILES_STORAGE_URL=f"file://{scratch / 'files'}", SECRET_KEY="bench-" + "x" * 40, DEBUG="false",
               ALLOWED_HOSTS="127.0.0.1", SECURE_SSL_REDIRECT="false", RATELIMIT_ENABLED="false",
               LOG_LEVEL="WARNING", FILES_MAX_UPLOAD_BYTES=str(2 * size))
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    key = subprocess.run([PYTHON, "manage.py", "shell", "-c", SETUP], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    source = scratch / "source.bin"
    sha = hashlib.sha256()
    with source.open("wb") as out:
        for _ in range(size // (8 * 1024 * 1024)):
            block = os.urandom(8 * 1024 * 1024)
            sha.update(block)
            out.write(block)
    started = time.perf_counter()
    shutil.copyfile(source, scratch / "copy.bin")
    os.sync()
    copy_seconds = time.perf_counter() - started
    (scratch / "copy.bin").unlink()

    port = free_port()
    web = subprocess.Popen(readme_web_command(port=port, workers=args.workers), cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {key}"}
        for _ in range(20):  # warm every worker
            requests.get(f"{base}/api/v1/files", headers=headers, timeout=10).raise_for_status()
        workers = workers_of(web.pid)
        assert len(workers) == args.workers, workers
        monitor = PeakMemory(workers)
        idle = max(monitor.idle.values())
        monitor.start()
        started = time.perf_counter()
        with source.open("rb") as stream:
            uploader = tus.TusClient(f"{base}/api/v1/uploads", headers=headers).uploader(
                file_stream=stream, chunk_size=args.chunk_mib * 1024 * 1024, metadata={"filename": "big.bin"})
            uploader.upload()
        upload_seconds = time.perf_counter() - started
        upload_growth = monitor.growth_kib()
        file_id = requests.head(uploader.url, headers={**headers, "Tus-Resumable": "1.0.0"}, timeout=10).headers[
            "X-File-Id"]
        monitor.reset()
        started = time.perf_counter()
        received = hashlib.sha256()
        with requests.get(f"{base}/api/v1/files/{file_id}/content", headers=headers, stream=True, timeout=60) as r:
            r.raise_for_status()
            for chunk in r.iter_content(1024 * 1024):
                received.update(chunk)
        download_seconds = time.perf_counter() - started
        download_growth = monitor.growth_kib()
        monitor.running = False
        stored = requests.get(f"{base}/api/v1/files/{file_id}", headers=headers, timeout=10).json()["sha256"]
        assert stored == sha.hexdigest() == received.hexdigest(), "bytes differ"
        time.sleep(1)  # the other worker's shipper thread (0.5 s), should it have served the download
        log = requests.get(f"{base}/api/v1/files/{file_id}/access-log", headers=headers, timeout=10).json()
        assert [(row["bytes"], row["status"]) for row in log["results"]] == [(size, 200)], log
    finally:
        web.terminate()
        web.wait(10)
        shutil.rmtree(scratch, ignore_errors=True)
    mib = size / 1024 / 1024
    print(f"load average {os.getloadavg()[0]:.1f}; {mib:.0f} MiB, tus chunks of {args.chunk_mib} MiB; "
          f"{args.workers} web workers")
    print(f"disk copy      {mib / copy_seconds:7.1f} MiB/s ({copy_seconds:.1f} s)")
    print(f"tus upload     {mib / upload_seconds:7.1f} MiB/s ({upload_seconds:.1f} s, incl. assembly + sha256); "
          f"web worker RSS peak +{upload_growth / 1024:.0f} MiB over idle {idle / 1024:.0f} MiB")
    print(f"download       {mib / download_seconds:7.1f} MiB/s ({download_seconds:.1f} s); "
          f"web worker RSS peak +{download_growth / 1024:.0f} MiB over idle")
    print(f"sha256 verified end to end: {stored}; the download is in the access log")


if __name__ == "__main__":
    sys.exit(main())
