"""Deployments, by hand (needs PostgreSQL, Redis and Debian's openssh-server):

    .venv/bin/python bench/deploy_bench.py [--rounds 5] [--projects 10] [--workers 2] [--lines 100000]

Recreates the database `gs_deploy_bench` on the local PostgreSQL (`BENCH_PG`, default
postgres://postgres@127.0.0.1:5432) and uses Redis `BENCH_REDIS_URL` (default db 2) as broker and
cache; starts a loopback sshd (tests/deployments/sshd.py), the web process as the Procfile does
(uvicorn `config.asgi`) and `--workers` Celery workers (solo pool, as bench/orchestration_bench.py),
rate limits off. Then measures:

1. latency: `POST /projects/{name}/deploy` to the first remote command (a `stamp` script on the
   host writes its clock; same machine, same clock), `--rounds` times, one deploy at a time;
2. throughput: `--projects` projects deploying at once (`stamp`, `sleep 1`, `stamp`), from the
   first POST to the last deployment `succeeded`, and each one's POST-to-first-command time;
3. a log follow of `--lines` lines (`Accept: text/event-stream`, a `log_file` of ~100-byte lines):
   lines and bytes per second received, and the web process's RSS (idle, and peak while following,
   polled every 20 ms).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DATABASE = "gs_deploy_bench"
ENV = {
    "DATABASE_URL": f"{PG}/{DATABASE}", "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2"),
    "SECRET_KEY": "deploy-bench-" + "x" * 40, "DEBUG": "false", "SECURE_SSL_REDIRECT": "false",
    "RATELIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "config.settings",
}
STAMP = '#!/bin/sh\ndate +%s.%N >> stamps\n'


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class PeakMemory(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, rss_kib(pid), True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)


def recreate_database() -> None:
    for sql in (f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", f"CREATE DATABASE {DATABASE}"):
        subprocess.run(["psql", f"{PG}/postgres", "-qc", sql], check=True)


def setup(sshd, folder: Path, projects: int, lines: int) -> dict:
    """Tenant, key, host and projects, through the app's services (in this process)."""
    import django

    django.setup()
    from django.core.management import call_command

    from apikeys.services import api_key_create
    from deployments import services
    from tenants.models import Tenant

    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.create(name="bench", slug="bench")
    _key, secret = api_key_create(tenant=tenant, name="bench", scopes=["read", "execute", "admin"])
    sshd.authorize(services.deploy_key_get_or_create(tenant=tenant).public_key)
    host = services.host_create(tenant=tenant, name="bench", address=sshd.address, port=sshd.port,
                                username=sshd.username, host_key=sshd.host_key)
    names = {"latency": [["stamp"]], **{f"load-{n}": [["stamp"], ["sleep", "1"], ["stamp"]] for n in range(projects)}}
    for name, steps in names.items():
        (folder / name).mkdir()
        services.project_create(tenant=tenant, name=name, host=host, directory=str(folder / name),
                                deploy_steps=steps, services=[{"name": "app"}])
    logs = folder / "logs"
    logs.mkdir()
    with open(logs / "app.log", "w") as log:
        for n in range(lines):
            log.write(f"{n:08d} " + "x" * 90 + "\n")
    services.project_create(tenant=tenant, name="logs", host=host, directory=str(logs),
                            services=[{"name": "app", "log_file": "app.log"}])
    return {"key": secret, "folder": folder}


def stamps(folder: Path) -> list[float]:
    path = folder / "stamps"
    return [float(line) for line in path.read_text().split()] if path.exists() else []


def deploy(client, name: str) -> tuple[float, str]:
    posted = time.time()
    response = client.post(f"/api/v1/projects/{name}/deploy")
    response.raise_for_status()
    return posted, response.json()["id"]


def wait_succeeded(client, name: str, deployment: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/api/v1/projects/{name}/deployments/{deployment}").json()["status"]
        if state == "succeeded":
            return
        if state in ("failed", "cancelled"):
            raise SystemExit(f"deployment of {name} ended {state}")
        time.sleep(0.05)
    raise SystemExit(f"deployment of {name} did not finish")


def follow(base: str, key: str, lines: int) -> tuple[int, int, float]:
    """(log lines, bytes, seconds) of one followed log until its `end` event."""
    import httpx

    received, count, started = 0, 0, time.perf_counter()
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
    with httpx.stream("GET", f"{base}/api/v1/projects/logs/logs", params={"service": "app", "lines": lines},
                      headers=headers, timeout=60) as response:
        response.raise_for_status()
        marker, carry = b"event: log\n", b""
        for chunk in response.iter_bytes():
            received += len(chunk)
            data = carry + chunk  # the carry is shorter than the marker: nothing is counted twice
            count += data.count(marker)
            carry = data[-(len(marker) - 1):]
            if b"event: end" in data or b"event: error" in data:
                break
    return count, received, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    os.environ.update(ENV, DEPLOYMENTS_LOG_MAX_LINES=str(args.lines), DEPLOYMENTS_LOG_TAIL_MAX_LINES=str(args.lines),
                      DEPLOYMENTS_LOG_MAX_BYTES=str(args.lines * 200))
    import httpx

    from tests.deployments.sshd import free_port, running_sshd

    recreate_database()
    scratch = Path(tempfile.mkdtemp(prefix="gs-deploy-bench-"))
    processes: list[subprocess.Popen] = []
    with running_sshd(scratch / "sshd") as sshd:
        stamp = sshd.bin_dir / "stamp"
        stamp.write_text(STAMP)
        stamp.chmod(0o755)
        world = setup(sshd, sshd.workdir, args.projects, args.lines)
        port = free_port()
        try:
            web = subprocess.Popen([str(ROOT / ".venv/bin/uvicorn"), "config.asgi:application", "--host", "127.0.0.1",
                                    "--port", str(port), "--lifespan", "off", "--no-proxy-headers"], cwd=ROOT)
            processes.append(web)
            processes += [subprocess.Popen(
                [str(ROOT / ".venv/bin/celery"), "-A", "config", "worker", "-P", "solo", "-l", "WARNING",
                 "-n", f"deploy-bench{i}-{uuid.uuid4().hex[:6]}@%h", "--without-mingle", "--without-gossip"],
                cwd=ROOT, stdout=subprocess.DEVNULL) for i in range(args.workers)]
            base = f"http://127.0.0.1:{port}"
            client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {world['key']}"}, timeout=30)
            for _ in range(300):
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            time.sleep(3)  # the workers' start-up

            latencies = []
            for _ in range(args.rounds + 1):  # the first is a warm-up
                before = len(stamps(world["folder"] / "latency"))
                posted, deployment = deploy(client, "latency")
                wait_succeeded(client, "latency", deployment)
                latencies.append(stamps(world["folder"] / "latency")[before] - posted)
            latencies = latencies[1:]

            names = [f"load-{n}" for n in range(args.projects)]
            started = time.time()
            with_threads: dict[str, tuple[float, str]] = {}
            threads = [threading.Thread(target=lambda n=n: with_threads.__setitem__(n, deploy(client, n)))
                       for n in names]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for name in names:
                wait_succeeded(client, name, with_threads[name][1])
            wall = time.time() - started
            firsts = sorted(stamps(world["folder"] / name)[0] - with_threads[name][0] for name in names)

            idle = rss_kib(web.pid)
            monitor = PeakMemory(web.pid)
            monitor.start()
            count, received, seconds = follow(base, world["key"], args.lines)
            monitor.running = False
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(30)
    print(f"load average {os.getloadavg()[0]:.1f}; workers: {args.workers} (solo); PostgreSQL, Redis, sshd on loopback")
    print(f"POST deploy → first remote command, one at a time ({args.rounds} rounds): median "
          f"{statistics.median(latencies) * 1000:.0f} ms, min {min(latencies) * 1000:.0f}, "
          f"max {max(latencies) * 1000:.0f}")
    print(f"{args.projects} projects at once (stamp, sleep 1, stamp): all succeeded in {wall:.1f} s "
          f"({args.projects / wall * 60:.0f} deploys/min); POST → first command median "
          f"{statistics.median(firsts):.2f} s, max {max(firsts):.2f} s")
    print(f"log follow of {count} lines: {received / seconds / 1024 / 1024:.1f} MiB/s, {count / seconds:,.0f} lines/s "
          f"({received / 1024 / 1024:.1f} MiB in {seconds:.1f} s); web RSS idle {idle / 1024:.0f} MiB, "
          f"peak {monitor.peak / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
