"""Orchestration vs bare Celery, by hand (needs PostgreSQL and Redis):

    DATABASE_URL=postgres://… REDIS_URL=redis://…/6 SECRET_KEY=x \
        .venv/bin/python bench/orchestration_bench.py [--chain 100] [--fanout 1000] [--workers 2] [--rounds 3]

Starts `--workers` worker processes (solo pool), then measures, from submit to completion:
1. a linear chain of `--chain` `echo` steps (each passing the previous output on) vs a Celery
   `chain()` of as many bare tasks → scheduling overhead per step;
2. a fan-out/fan-in: one step, `--fanout` parallel `echo` steps, one join vs the same shape in
   bare Celery (group + counter fan-in) → throughput in steps/s.
Reports the median of `--rounds`, and the CPU time per step spent by the workers and by the
PostgreSQL server processes (from /proc; Linux only). The database must be migrated.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["DEBUG"] = "false"  # production-like: no query recording (a local .env may say true)

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from celery import chain  # noqa: E402
from django.conf import settings  # noqa: E402

from bench.orchestration_tasks import bare_echo, fan_start  # noqa: E402
from config.celery import app  # noqa: E402
from orchestration import services  # noqa: E402
from orchestration.models import Cluster, Run  # noqa: E402
from tenants.models import Tenant  # noqa: E402


def chain_definition(n: int, name: str = "bench-chain") -> str:
    lines = [f"name: {name}", "steps:", "  - {id: s0, satellite: echo, inputs: {message: hi}}"]
    for i in range(1, n):
        lines.append(
            f"  - {{id: s{i}, satellite: echo, depends_on: [s{i - 1}], "
            f'inputs: {{message: "${{{{ steps.s{i - 1}.outputs.message }}}}"}}}}'
        )
    return "\n".join(lines) + "\n"


def fan_definition(width: int) -> str:
    lines = ["name: bench-fan", "steps:", "  - {id: start, satellite: echo, inputs: {message: hi}}"]
    for i in range(width):
        lines.append(f"  - {{id: b{i}, satellite: echo, depends_on: [start], inputs: {{index: {i}}}}}")
    lines.append("  - id: join")
    lines.append("    satellite: echo")
    lines.append("    depends_on: [" + ", ".join(f"b{i}" for i in range(width)) + "]")
    return "\n".join(lines) + "\n"


def cluster(tenant, definition: str) -> Cluster:
    name = definition.split("\n", 1)[0].split(": ", 1)[1]
    existing = Cluster.objects.filter(tenant=tenant, name=name).first()
    if existing:
        services.cluster_delete(cluster=existing)
    return services.cluster_create(tenant=tenant, definition=definition)


def time_run(target: Cluster, timeout: float = 600) -> float:
    started = time.perf_counter()
    run = services.run_trigger(cluster=target, inputs={})
    while True:
        status = Run.objects.filter(pk=run.pk).values_list("status", flat=True).get()
        if status in ("succeeded", "failed", "cancelled", "timed_out"):
            elapsed = time.perf_counter() - started
            if status != "succeeded":
                raise SystemExit(f"benchmark run ended {status}")
            return elapsed
        if time.perf_counter() - started > timeout:
            raise SystemExit("benchmark run did not finish")
        time.sleep(0.01)


def time_bare(r: redis.Redis, send, timeout: float = 600) -> float:
    bench_id = uuid.uuid4().hex
    started = time.perf_counter()
    send(bench_id)
    while not r.exists(f"bench:{bench_id}:done"):
        if time.perf_counter() - started > timeout:
            raise SystemExit("bare Celery benchmark did not finish")
        time.sleep(0.01)
    return time.perf_counter() - started


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes, from /proc (0 for any that has gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    result = subprocess.run(["pgrep", "-u", "postgres"], capture_output=True, text=True, check=False)
    return [int(pid) for pid in result.stdout.split()]


def start_workers(count: int) -> list[subprocess.Popen]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-I", "bench.orchestration_tasks",
             "-n", f"bench{i}-{uuid.uuid4().hex[:6]}@%h", "--without-mingle", "--without-gossip", "-l", "WARNING"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for i in range(count)
    ]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=0.5) or []) >= count:
            return workers
    raise SystemExit("workers did not come up")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chain", type=int, default=100)
    parser.add_argument("--fanout", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not settings.REDIS_URL or settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        raise SystemExit("set DATABASE_URL (PostgreSQL) and REDIS_URL")
    r = redis.Redis.from_url(settings.REDIS_URL)
    app.control.purge()
    tenant, _ = Tenant.objects.get_or_create(slug="bench", defaults={"name": "Benchmark"})
    chain_cluster = cluster(tenant, chain_definition(args.chain))
    fan_cluster = cluster(tenant, fan_definition(args.fanout))

    def bare_chain(bench_id):
        links = [bare_echo.s({"message": "hi"}, bench_id=bench_id, index=0, total=args.chain)]
        links += [bare_echo.s(bench_id=bench_id, index=i, total=args.chain) for i in range(1, args.chain)]
        chain(*links).apply_async()

    def bare_fan(bench_id):
        fan_start.delay(bench_id, args.fanout)

    workers = start_workers(args.workers)
    try:
        time_run(cluster(tenant, chain_definition(3, name="bench-warm-up")))  # warm-up: imports, connections
        time_bare(r, lambda b: bare_echo.delay({"message": "hi"}, bench_id=b, index=0, total=1))
        results: dict[str, list[float]] = {"chain": [], "bare_chain": [], "fan": [], "bare_fan": []}
        cpu: dict[str, list[tuple[float, float]]] = {key: [] for key in results}
        worker_pids = [worker.pid for worker in workers]
        runs = {
            "chain": lambda: time_run(chain_cluster),
            "bare_chain": lambda: time_bare(r, bare_chain),
            "fan": lambda: time_run(fan_cluster),
            "bare_fan": lambda: time_bare(r, bare_fan),
        }
        for _ in range(args.rounds):
            for key, run in runs.items():
                before = cpu_seconds(worker_pids), cpu_seconds(postgres_pids())
                results[key].append(run())
                cpu[key].append((cpu_seconds(worker_pids) - before[0], cpu_seconds(postgres_pids()) - before[1]))
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)
    med = {k: statistics.median(v) for k, v in results.items()}
    steps_fan = args.fanout + 2
    print(f"workers: {args.workers} (solo), rounds: {args.rounds}, database: PostgreSQL, broker: Redis")
    print(f"chain of {args.chain}: orchestration {med['chain']:.2f}s "
          f"({med['chain'] / args.chain * 1000:.1f} ms/step), bare Celery {med['bare_chain']:.2f}s "
          f"({med['bare_chain'] / args.chain * 1000:.1f} ms/step), ratio {med['chain'] / med['bare_chain']:.2f}x, "
          f"overhead {(med['chain'] - med['bare_chain']) / args.chain * 1000:.1f} ms/step")
    print(f"fan-out/fan-in of {args.fanout}: orchestration {med['fan']:.2f}s ({steps_fan / med['fan']:.0f} steps/s), "
          f"bare Celery {med['bare_fan']:.2f}s ({steps_fan / med['bare_fan']:.0f} tasks/s), "
          f"ratio {med['fan'] / med['bare_fan']:.2f}x")
    for key, steps in (("chain", args.chain), ("bare_chain", args.chain), ("fan", steps_fan), ("bare_fan", steps_fan)):
        workers_ms = statistics.median(c[0] for c in cpu[key]) / steps * 1000
        postgres_ms = statistics.median(c[1] for c in cpu[key]) / steps * 1000
        print(f"CPU per step, {key}: workers {workers_ms:.2f} ms, PostgreSQL {postgres_ms:.2f} ms")


if __name__ == "__main__":
    main()
