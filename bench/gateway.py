"""Gateway benchmark (run by hand; not part of the test suite). See bench/README.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gs_apikeys_bench \
    REDIS_URL=redis://127.0.0.1:6379/11 .venv/bin/python bench/gateway.py

Starts the README's production web command (bench/production.py; one process) on a free port
with bench.gateway_settings and measures, alternating in rounds, (a) a bare DRF view, (b) the
tenant-scoped list of 20 API keys with API-key auth + rate limits (fixed windows) + metering,
(c) the same list with them off, (d) the list as (b) in a tenant whose plan's limits are token
buckets. Reports throughput, p50 and p99, the ratios (b)/(c) and (d)/(b), and Redis commands
per (b) and per (d) request.
"""
import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.production import readme_web_command  # noqa: E402

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gs_apikeys_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/11")
os.environ.update(
    DJANGO_SETTINGS_MODULE="bench.gateway_settings", DEBUG="false", SECURE_SSL_REDIRECT="false",
    ALLOWED_HOSTS="127.0.0.1", LOG_LEVEL="WARNING", LOG_FORMAT="json",
)
os.environ.setdefault("SECRET_KEY", "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 5))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", 1000))  # per target per round
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", 8))


# The same capacity per second both ways, far above what the benchmark sends: nothing is refused.
WINDOW_RATES = ["100000000/m"]
BUCKET_RATES = ["2000000/s burst 100000000"]


def _tenant_with_keys(slug: str, rates: list[str]) -> str:
    from apikeys import services
    from tenants.models import Plan, Tenant

    plan, _ = Plan.objects.update_or_create(slug=slug, defaults={"name": slug, "rates": rates})
    Tenant.objects.filter(slug=slug).delete()
    tenant = Tenant.objects.create(name=slug, slug=slug, plan=plan)
    for index in range(19):
        services.api_key_create(tenant=tenant, name=f"key {index}", scopes=["read"])
    _, secret = services.api_key_create(tenant=tenant, name="bench admin", scopes=["admin"])
    return secret


def setup_data() -> tuple[str, str, str]:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return "bench", _tenant_with_keys("bench", WINDOW_RATES), _tenant_with_keys("bench-buckets", BUCKET_RATES)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_target(port: int, path: str, headers: dict, count: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    per_thread = count // CONCURRENCY

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port)
        mine = []
        for _ in range(per_thread):
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                failures.append(f"{path}: HTTP {response.status}")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{len(failures)} failed requests, e.g. {failures[0]}")
    return latencies, time.perf_counter() - started


def redis_commands() -> int:
    """Commands the clients sent (EVALSHA counts once; the script's inner calls are not round trips)."""
    import redis

    stats = redis.Redis.from_url(os.environ["REDIS_URL"]).info("commandstats")
    # Only ever issued inside the script here (SET: a bucket's state; a client SETs only a
    # credential snapshot on a miss, and the warm-up leaves none).
    inner = ("cmdstat_get", "cmdstat_incr", "cmdstat_expire", "cmdstat_set")
    return sum(v["calls"] for k, v in stats.items() if k not in inner and k != "cmdstat_info")


def main() -> None:
    slug, secret, bucket_secret = setup_data()
    port = free_port()
    server = subprocess.Popen(
        readme_web_command(port=port, workers=1),
        cwd=ROOT, env=os.environ.copy(), stderr=open(ROOT / "var" / "bench-gateway-server.log", "w"),  # noqa: SIM115
    )
    try:
        for _ in range(100):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        targets = {
            "a bare DRF view": ("/bench/bare", {}),
            "b list, key auth + limits + metering": ("/api/v1/api-keys", {"Authorization": f"Bearer {secret}"}),
            "c list, gateway off": (f"/api/v1/bench-keys?tenant={slug}", {}),
            "d list, as (b) with token buckets": ("/api/v1/api-keys", {"Authorization": f"Bearer {bucket_secret}"}),
        }
        for path, headers in targets.values():  # warm up: connections, caches, snapshots
            run_target(port, path, headers, 200)
        results = {name: ([], 0.0, 0) for name in targets}
        redis_per = {"b": [], "d": []}
        for _ in range(ROUNDS):
            for name, (path, headers) in targets.items():
                limited = name[0] in redis_per
                before = redis_commands() if limited else 0
                latencies, elapsed = run_target(port, path, headers, REQUESTS)
                if limited:
                    time.sleep(0.6)  # let the metering shipper's batch land in the count
                    redis_per[name[0]].append((redis_commands() - before) / len(latencies))
                all_lat, total_time, total_n = results[name]
                results[name] = (all_lat + latencies, total_time + elapsed, total_n + len(latencies))
        print(f"rounds={ROUNDS} requests/target/round={REQUESTS} concurrency={CONCURRENCY} "
              f"({' '.join(readme_web_command(port=port, workers=1)[1:])})")
        print(f"{'target':40} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        summary = {}
        for name, (latencies, elapsed, n) in results.items():
            latencies.sort()
            rps = n / elapsed
            p50 = statistics.median(latencies)
            p99 = latencies[int(len(latencies) * 0.99) - 1]
            summary[name[0]] = (rps, p50, p99)
            print(f"{name:40} {rps:8.0f} {p50:8.2f} {p99:8.2f}")
        b, c, d = summary["b"], summary["c"], summary["d"]
        print(f"throughput (b)/(c) = {b[0] / c[0]:.3f}; p50 (b)/(c) = {b[1] / c[1]:.3f}")
        print(f"buckets vs windows: throughput (d)/(b) = {d[0] / b[0]:.3f}; p50 (d)/(b) = {d[1] / b[1]:.3f}; "
              f"p99 (d)/(b) = {d[2] / b[2]:.3f}")
        for kind in ("b", "d"):
            print(f"Redis commands per ({kind}) request (limits + metering, amortised): "
                  f"{statistics.mean(redis_per[kind]):.3f}")
    finally:
        server.terminate()
        server.wait(timeout=10)
        import redis

        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        for name in client.scan_iter(match="gs:*"):
            client.delete(name)


if __name__ == "__main__":
    main()
