"""Live events across processes: latency from `live.publish()` in another process to a WebSocket
client of the web process, and what the outbox costs the web process (run by hand).

    python -m bench.live_bench            # embedded default: SQLite + the LiveEvent outbox
    DATABASE_URL=postgres://… REDIS_URL=redis://… python -m bench.live_bench   # channels_redis

One web process from the Procfile, one client; a separate process publishes 200 events 50 ms
apart (what a worker does). Then the web process's CPU is sampled for 20 s idle with the client
connected (the drainer polls) and 20 s with no client (it stops).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.sync.client import connect

from tests.monitoring.processes import ROOT, Processes, private_database

EVENTS = 200
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def driver(env, *args) -> dict:
    out = subprocess.run([sys.executable, "-m", "tests.monitoring.live_driver", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    database, redis = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    shape = "postgres+redis" if database.startswith("postgres") and redis else "embedded"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(SECRET_KEY=env.get("SECRET_KEY", "bench-secret-key-0123456789-0123456789"), DEBUG="false",
               SECURE_SSL_REDIRECT="false", LOG_LEVEL="WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        if shape == "embedded":
            env.update(CELERY_BROKER_URL="filesystem://", CELERY_BROKER_FOLDER=str(tmp_path / "broker"))
        else:
            env["REDIS_URL"] = redis
        with private_database(env, tmp_path, postgres_url=database if shape != "embedded" else None) as env:
            world = driver(env, "setup", "9")
            processes = Processes(env, tmp_path)
            try:
                address = processes.web("web")
                processes.wait_until_serving(address)
                pid = processes.started[0][1].pid
                socket = connect(f"ws://{address}/api/v1/ws/status?token={world['api_key']}", legacy=True)
                socket.recv(timeout=10)  # hello
                publisher = subprocess.Popen([sys.executable, "-m", "tests.monitoring.live_driver", "publish",
                                              world["tenant"], str(EVENTS)], cwd=ROOT, env=env)
                latencies = []
                while len(latencies) < EVENTS:
                    message = json.loads(socket.recv(timeout=30))
                    if message["event"] == "bench":
                        latencies.append((time.time() - message["data"]["sent"]) * 1000)
                publisher.wait(timeout=60)
                before = cpu_seconds(pid)
                time.sleep(20)
                idle_with_client = cpu_seconds(pid) - before
                socket.close()
                time.sleep(1)
                before = cpu_seconds(pid)
                time.sleep(20)
                idle_without = cpu_seconds(pid) - before
            finally:
                processes.stop()
    latencies.sort()
    print(json.dumps({
        "shape": shape, "events": EVENTS,
        "latency_ms": {"p50": round(statistics.median(latencies), 1),
                       "p95": round(latencies[int(len(latencies) * 0.95) - 1], 1),
                       "max": round(latencies[-1], 1)},
        "web_cpu_percent_idle": {"one_client": round(idle_with_client / 20 * 100, 2),
                                 "no_client": round(idle_without / 20 * 100, 2)},
    }))


if __name__ == "__main__":
    main()
