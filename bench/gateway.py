"""Gateway benchmark (run by hand; not part of the test suite). See bench/README.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gs_apikeys_bench \
    REDIS_URL=redis://127.0.0.1:6379/11 .venv/bin/python bench/gateway.py

Starts one uvicorn server on a free port with bench.gateway_settings and measures, alternating
in rounds, (a) a bare DRF view, (b) the tenant-scoped list of 20 API keys with API-key auth +
rate limits + metering, (c) the same list with them off. Reports throughput, p50 and p99, the
ratio (b)/(c), SQL-free warm-key auth (by construction, see tests) and Redis commands per (b).
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


def setup_data() -> tuple[str, str]:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from apikeys import services
    from tenants.models import Plan, Tenant

    plan, _ = Plan.objects.get_or_create(slug="bench", defaults={"name": "Bench", "rates": ["100000000/m"]})
    Tenant.objects.filter(slug="bench").delete()
    tenant = Tenant.objects.create(name="Bench", slug="bench", plan=plan)
    for index in range(19):
        services.api_key_create(tenant=tenant, name=f"key {index}", scopes=["read"])
    _, secret = services.api_key_create(tenant=tenant, name="bench admin", scopes=["admin"])
    return tenant.slug, secret


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
    inner = ("cmdstat_get", "cmdstat_incr", "cmdstat_expire")  # only ever issued inside the script here
    return sum(v["calls"] for k, v in stats.items() if k not in inner and k != "cmdstat_info")


def main() -> None:
    slug, secret = setup_data()
    port = free_port()
    server = subprocess.Popen(
        # WSGI in uvicorn's fixed thread pool keeps one persistent database connection per
        # thread; under ASGI each sync request runs on a fresh thread and opens a connection.
        [str(ROOT / ".venv/bin/uvicorn"), "config.wsgi:application", "--interface", "wsgi", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning", "--http", "httptools"],
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
        }
        for path, headers in targets.values():  # warm up: connections, caches, snapshots
            run_target(port, path, headers, 200)
        results = {name: ([], 0.0, 0) for name in targets}
        redis_per_b = []
        for _ in range(ROUNDS):
            for name, (path, headers) in targets.items():
                before = redis_commands() if name.startswith("b") else 0
                latencies, elapsed = run_target(port, path, headers, REQUESTS)
                if name.startswith("b"):
                    time.sleep(0.6)  # let the metering shipper's batch land in the count
                    redis_per_b.append((redis_commands() - before) / len(latencies))
                all_lat, total_time, total_n = results[name]
                results[name] = (all_lat + latencies, total_time + elapsed, total_n + len(latencies))
        print(f"rounds={ROUNDS} requests/target/round={REQUESTS} concurrency={CONCURRENCY} (uvicorn, 1 worker)")
        print(f"{'target':40} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        summary = {}
        for name, (latencies, elapsed, n) in results.items():
            latencies.sort()
            rps = n / elapsed
            p50 = statistics.median(latencies)
            p99 = latencies[int(len(latencies) * 0.99) - 1]
            summary[name[0]] = (rps, p50, p99)
            print(f"{name:40} {rps:8.0f} {p50:8.2f} {p99:8.2f}")
        b, c = summary["b"], summary["c"]
        print(f"throughput (b)/(c) = {b[0] / c[0]:.3f}; p50 (b)/(c) = {b[1] / c[1]:.3f}")
        print(f"Redis commands per (b) request (limits + metering, amortised): {statistics.mean(redis_per_b):.3f}")
    finally:
        server.terminate()
        server.wait(timeout=10)
        import redis

        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        for name in client.scan_iter(match="gs:*"):
            client.delete(name)


if __name__ == "__main__":
    main()
