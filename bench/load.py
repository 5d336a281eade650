"""Load with accounting: drive thousands of API calls from several processes with several keys
against a real server, then reconcile what the platform recorded with what was sent.

Everything is private: a SQLite file (or `LOAD_DATABASE_URL`, e.g. a scratch PostgreSQL database)
and a `redis-server` on a free port, so metering runs the production path (gateway buffer →
Redis list → `usage_flush` → rows). uvicorn runs `--workers` processes; a Celery worker and two
beat processes poll `--nodes` nodes against a local HTTP server during the load.

    .venv/bin/python bench/load.py --requests 5000 --procs 4 --keys 4

Checks (exit status 1 on any mismatch): usage rows per key = requests sent with that key;
2xx answers for the rate-limited key ≤ its limit per window touched; no request id recorded
twice; no duplicate snapshot (same node, same instant); no node checked more often than its
interval allows. Figures go to stdout and `artifacts/load-figures.json`.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["/api/v1/nodes", "/api/v1/status/summary", "/api/v1/api-keys", "/api/v1/nodes?page_size=5",
         "/api/v1/no-such-route", "/api/v1/incidents"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


class Ok(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def drive(base: str, secret: str, key_id: str, count: int, queue) -> None:
    """One load process: `count` calls with one key; reports status counts and 2xx windows."""
    statuses: Counter = Counter()
    ok_windows: Counter = Counter()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=30) as client:
        for i in range(count):
            response = client.get(PATHS[i % len(PATHS)])
            statuses[response.status_code] += 1
            if response.status_code < 300:
                ok_windows[int(time.time()) // 60] += 1
    queue.put({"key_id": key_id, "sent": count, "statuses": dict(statuses), "ok_windows": dict(ok_windows)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--keys", type=int, default=4)
    parser.add_argument("--limited-rate", default="200/m", help="rate of key 0 (the others have none of their own)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--nodes", type=int, default=20)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gs-load-"))
    redis_port, web_port = free_port(), free_port()
    node_server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=node_server.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL")}
    env.update(
        DATABASE_URL=os.environ.get("LOAD_DATABASE_URL", f"sqlite:///{work / 'db.sqlite3'}"),
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        SECRET_KEY="load-test-secret-key-not-for-production-0123456789",
        DEBUG="false", SECURE_SSL_REDIRECT="false", ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING", OUTBOUND_ALLOW_PRIVATE="true", USAGE_BUFFER_AUTOFLUSH="true",
        PYTHONPATH=str(ROOT),
    )
    processes: list[subprocess.Popen] = []

    def start(*command: str, log: str) -> None:
        out = open(work / log, "w")  # noqa: SIM115 - lives as long as the process
        processes.append(subprocess.Popen(list(command), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True))

    def run_driver(*command: str) -> dict:
        out = subprocess.run([sys.executable, "-m", "bench.load_driver", *command], cwd=ROOT, env=env, check=True,
                             capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    try:
        start(shutil.which("redis-server") or "redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
              "--save", "", "--appendonly", "no", "--dir", str(work), log="redis.log")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        setup = run_driver("setup", str(args.keys), args.limited_rate, str(args.nodes),
                           str(node_server.server_address[1]))
        venv = Path(sys.executable).parent
        start(str(venv / "uvicorn"), "config.asgi:application", "--host", "127.0.0.1", "--port", str(web_port),
              "--workers", str(args.workers), "--lifespan", "off", "--log-level", "warning", log="web.log")
        start(sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "threads", "-c", "4",
              "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "WARNING", log="worker.log")
        for n in (1, 2):  # two beats, as in a failover pair: still one check per node per interval
            start(sys.executable, "-m", "celery", "-A", "config", "beat", "-s", str(work / f"beat-{n}"), "-l",
                  "WARNING", log=f"beat-{n}.log")
        base = f"http://127.0.0.1:{web_port}"
        wait_for(f"{base}/health")

        keys = setup["keys"]
        per_proc = args.requests // args.procs
        queue = multiprocessing.get_context("spawn").Queue()
        started = time.monotonic()
        workers = [
            multiprocessing.get_context("spawn").Process(
                target=drive, args=(base, keys[i % len(keys)]["secret"], keys[i % len(keys)]["id"], per_proc, queue)
            )
            for i in range(args.procs)
        ]
        for worker in workers:
            worker.start()
        results = [queue.get(timeout=1800) for _ in workers]
        for worker in workers:
            worker.join()
        elapsed = time.monotonic() - started

        time.sleep(2)  # the web processes ship their buffers every 0.5 s
        for process in processes[1:]:  # web, worker, beats: SIGTERM drains what is left
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes[1:]:
            process.wait(timeout=60)
        reconciled = run_driver("reconcile")
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        node_server.shutdown()

    sent: Counter = Counter()
    statuses: Counter = Counter()
    ok_windows: dict[str, Counter] = {}
    for result in results:
        sent[result["key_id"]] += result["sent"]
        statuses.update({int(k): v for k, v in result["statuses"].items()})
        ok_windows.setdefault(result["key_id"], Counter()).update(result["ok_windows"])
    recorded = reconciled["usage_rows_per_key"]
    mismatches = {key: (n, recorded.get(key, 0)) for key, n in sent.items() if recorded.get(key, 0) != n}
    limited = keys[0]
    limit = int(limited["rate_limit"].split("/")[0])
    limited_ok = sum(ok_windows.get(limited["id"], Counter()).values())
    windows_touched = max(len(ok_windows.get(limited["id"], {})), 1) + 1  # a window may straddle the run's ends
    checks = reconciled["checks_per_node"]
    figures = {
        "requests": sum(sent.values()),
        "processes": args.procs,
        "keys": args.keys,
        "seconds": round(elapsed, 1),
        "requests_per_second": round(sum(sent.values()) / elapsed, 1),
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(v for k, v in statuses.items() if k >= 500),
        "usage_rows": sum(recorded.values()),
        "usage_mismatches": len(mismatches),
        "limited_key": {"rate": limited["rate_limit"], "successes": limited_ok, "windows": windows_touched - 1,
                        "within_limit": limited_ok <= limit * windows_touched},
        "duplicate_request_ids": reconciled["duplicate_request_ids"],
        "duplicate_snapshots": reconciled["duplicate_snapshots"],
        "nodes_checked": len(checks),
        "max_checks_per_node": max(checks) if checks else 0,
        "max_checks_allowed": int(elapsed // 10) + 2,
    }
    print(json.dumps(figures, indent=2))
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / "load-figures.json").write_text(json.dumps(figures, indent=2))
    failed = (
        mismatches or figures["server_errors"] or not figures["limited_key"]["within_limit"]
        or figures["duplicate_request_ids"] or figures["duplicate_snapshots"]
        or figures["max_checks_per_node"] > figures["max_checks_allowed"]
    )
    if mismatches:
        print(f"usage mismatches (sent, recorded): {mismatches}", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
