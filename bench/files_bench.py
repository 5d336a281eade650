"""Files: upload (tus) and download throughput of a big file through the API, against copying
the same file on disk, and the web process's peak memory during both.

    .venv/bin/python bench/files_bench.py [--size-mib 1024] [--chunk-mib 64]

Runs the web process as `make run` does (uvicorn, `config.asgi`), embedded (SQLite, a scratch
folder for the database and the files), with rate limits off; polls its RSS every 20 ms.
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

import requests
from tusclient import client as tus

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv/bin/python")
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


class PeakMemory(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--chunk-mib", type=int, default=64)
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    scratch = Path(tempfile.mkdtemp(prefix="gs-files-bench-"))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}", "REDIS_URL": "",
           "FILES_STORAGE_URL": f"file://{scratch / 'files'}", "SECRET_KEY": "bench-" + "x" * 40, "DEBUG": "false",
           "SECURE_SSL_REDIRECT": "false", "RATELIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING",
           "FILES_MAX_UPLOAD_BYTES": str(2 * size)}
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
    web = subprocess.Popen([str(ROOT / ".venv/bin/uvicorn"), "config.asgi:application", "--host", "127.0.0.1",
                            "--port", str(port), "--lifespan", "off", "--no-proxy-headers"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {key}"}
        requests.get(f"{base}/api/v1/files", headers=headers, timeout=10).raise_for_status()  # warm
        idle = rss_kib(web.pid)
        monitor = PeakMemory(web.pid)
        monitor.start()
        started = time.perf_counter()
        with source.open("rb") as stream:
            uploader = tus.TusClient(f"{base}/api/v1/uploads", headers=headers).uploader(
                file_stream=stream, chunk_size=args.chunk_mib * 1024 * 1024, metadata={"filename": "big.bin"})
            uploader.upload()
        upload_seconds = time.perf_counter() - started
        upload_peak = monitor.peak
        file_id = requests.head(uploader.url, headers={**headers, "Tus-Resumable": "1.0.0"}, timeout=10).headers[
            "X-File-Id"]
        monitor.peak = rss_kib(web.pid)
        started = time.perf_counter()
        received = hashlib.sha256()
        with requests.get(f"{base}/api/v1/files/{file_id}/content", headers=headers, stream=True, timeout=60) as r:
            r.raise_for_status()
            for chunk in r.iter_content(1024 * 1024):
                received.update(chunk)
        download_seconds = time.perf_counter() - started
        download_peak = monitor.peak
        monitor.running = False
        stored = requests.get(f"{base}/api/v1/files/{file_id}", headers=headers, timeout=10).json()["sha256"]
        assert stored == sha.hexdigest() == received.hexdigest(), "bytes differ"
    finally:
        web.terminate()
        web.wait(10)
        shutil.rmtree(scratch, ignore_errors=True)
    mib = size / 1024 / 1024
    print(f"load average {os.getloadavg()[0]:.1f}; {mib:.0f} MiB, tus chunks of {args.chunk_mib} MiB")
    print(f"disk copy      {mib / copy_seconds:7.1f} MiB/s ({copy_seconds:.1f} s)")
    print(f"tus upload     {mib / upload_seconds:7.1f} MiB/s ({upload_seconds:.1f} s, incl. assembly + sha256); "
          f"web RSS peak +{(upload_peak - idle) / 1024:.0f} MiB over idle {idle / 1024:.0f} MiB")
    print(f"download       {mib / download_seconds:7.1f} MiB/s ({download_seconds:.1f} s); "
          f"web RSS peak +{(download_peak - idle) / 1024:.0f} MiB over idle")
    print(f"sha256 verified end to end: {stored}")


if __name__ == "__main__":
    sys.exit(main())
