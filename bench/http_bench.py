"""HTTP benchmark of the deployed shape against a plain Django/DRF reference (run by hand).

    .venv/bin/python bench/http_bench.py [--rounds 3] [--duration 10] [--connections 16 64]

The platform runs exactly the README's production command (bench/production.py; only address,
port and `--workers` replaced) on PostgreSQL + Redis, next to a Celery worker and beat (they
share PostgreSQL's `max_connections` and ship the usage records into rows). The reference
project (bench/reference: Django's default middleware, DRF, persistent connections) runs under
gunicorn with the same number of sync workers. wrk drives both, alternating target by target
within each round, so both see the same machine load. Reports req/s, p50, p99, non-2xx, socket
errors and the most PostgreSQL connections seen per database during each run; then checks that
usage rows = requests completed, exactly, with a fixed number of requests.

Needs `wrk` (Debian package), PostgreSQL (`BENCH_PG`, default the local server as postgres) and
Redis (`BENCH_REDIS_URL`, default db 4). Uses and recreates databases gs_http_bench(_ref).
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.production import readme_web_command  # noqa: E402

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
PLATFORM_DB, REFERENCE_DB = "gs_http_bench", "gs_http_bench_ref"
REFERENCE_KEY = "ref_0123456789abcdefghijklmnopqrstuvwxyz"
BIN = Path(sys.executable).parent


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recreate(name: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def wait_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the server exited\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not come up\n{log.read_text()}")


class ConnectionSampler:
    """The most backends seen per database while a run lasts (pg_stat_activity every 50 ms)."""

    def __init__(self):
        self.admin = psycopg.connect(f"{PG}/postgres", autocommit=True)
        self.peak: Counter = Counter()
        self.overall: Counter = Counter()
        self.total_peak = self.overall_peak = 0
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        self.peak, self.total_peak = Counter(), 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            rows = self.admin.execute(
                "SELECT CASE WHEN datname IN (%s, %s) THEN application_name ELSE 'others' END, count(*)"
                " FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1",
                [PLATFORM_DB, REFERENCE_DB],
            ).fetchall()
            for name, count in rows:
                self.peak[name] = max(self.peak[name], count)
            self.total_peak = max(self.total_peak, sum(count for _, count in rows))
            self.overall_peak = max(self.overall_peak, self.total_peak)
            for name, count in rows:
                self.overall[name] = max(self.overall[name], count)
            time.sleep(0.05)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


WRK_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, connections: int, duration: int, headers: dict, script: Path | None = None) -> dict:
    """`script`: a wrk Lua file that makes the requests (e.g. POST bodies varying per request)."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if script is not None:
        command += ["-s", str(script)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    latency = {p: float(v) * UNIT_MS[u] for p, v, u in WRK_LATENCY.findall(out)}
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency.get("50"), "p99": latency.get("99"), "requests": requests,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
        "raw": out,
    }


class Processes:
    """Servers started in their own sessions, output in `tmp/<name>.log`; stopped together."""

    def __init__(self, tmp: Path):
        self.tmp, self.started = tmp, []

    def start(self, command: list, environment: dict, name: str) -> tuple[subprocess.Popen, Path]:
        log = self.tmp / f"{name}.log"
        with log.open("w") as sink:
            self.started.append(subprocess.Popen(command, cwd=ROOT, env=environment, stdout=sink,
                                                 stderr=subprocess.STDOUT, start_new_session=True))
        return self.started[-1], log

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        print(f"logs: {self.tmp}")


def platform_env(tmp: Path, *, database: str = PLATFORM_DB, redis_url: str = REDIS_URL) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CELERY_", "WEB_"))}
    env.update(
        DEBUG="false", SECRET_KEY="bench-secret-key-not-for-production-0123456789abcdef",
        ALLOWED_HOSTS="127.0.0.1", DATABASE_URL=f"{PG}/{database}?application_name=platform", REDIS_URL=redis_url,
        # No TLS proxy in front of the benchmark: plain HTTP must not be redirected.
        SECURE_SSL_REDIRECT="false", LOG_LEVEL="WARNING", ENV_FILE=str(tmp / "empty.env"),
    )
    (tmp / "empty.env").write_text("")
    return env


def named(env: dict, application: str) -> dict:
    """The same environment, its PostgreSQL connections labelled (pg_stat_activity.application_name)."""
    return {**env, "DATABASE_URL": env["DATABASE_URL"].replace("application_name=platform",
                                                               f"application_name={application}")}


def usage_rows(env: dict) -> int:
    code = ("from apikeys import services; services.usage_flush(stale_after_seconds=0); "
            "from apikeys.models import ApiCall; print(ApiCall.objects.filter(api_key__isnull=False).count())")
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True, timeout=300)
    return int(out.stdout.strip().splitlines()[-1])


def settle_rows(env: dict, expected: int, timeout: float = 60) -> int:
    """Rows once the web processes' buffers and the Redis list are drained (or the timeout)."""
    deadline = time.monotonic() + timeout
    rows = usage_rows(env)
    while rows < expected and time.monotonic() < deadline:
        time.sleep(1)
        rows = usage_rows(env)
    return rows


def exact_requests(base: str, headers: dict, count: int) -> Counter:
    limits = httpx.Limits(max_connections=8)
    with httpx.Client(base_url=base, headers=headers, timeout=60, limits=limits) as client, \
            ThreadPoolExecutor(8) as pool:
        return Counter(pool.map(lambda _: client.get("/api/v1/nodes?page_size=20").status_code, range(count)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--workers", type=int, default=2, help="web processes of each side")
    parser.add_argument("--exact", type=int, default=2000, help="requests of the exact metering check")
    parser.add_argument("--compare-asgi", action="store_true",
                        help="also run the same command with all HTTP through Django's ASGI handler")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="gs-http-bench-"))
    env = platform_env(tmp)
    recreate(PLATFORM_DB)
    recreate(REFERENCE_DB)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run([sys.executable, "-m", "bench.load_driver", "setup", "1", "", "20", "9"], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True)
    key = json.loads(out.stdout.strip().splitlines()[-1])["keys"][0]["secret"]
    ref_env = {**env, "REFERENCE_DATABASE_URL": f"{PG}/{REFERENCE_DB}?application_name=reference",
               "DJANGO_SETTINGS_MODULE": "bench.reference.settings"}
    subprocess.run([sys.executable, "-m", "bench.reference.seed", REFERENCE_KEY], cwd=ROOT, env=ref_env, check=True)

    platform_port, reference_port = free_port(), free_port()
    web_command = readme_web_command(port=platform_port, workers=args.workers)
    ref_command = [str(BIN / "gunicorn"), "bench.reference.wsgi:application", "-w", str(args.workers), "-b",
                   f"127.0.0.1:{reference_port}", "--log-level", "warning"]
    processes = Processes(tmp)
    start = processes.start
    try:
        web, web_log = start(web_command, named(env, "platform-web"), "web")
        start([str(BIN / "celery"), "-A", "config", "worker", "--concurrency", "2", "--loglevel", "WARNING"],
              named(env, "platform-worker"), "worker")
        start([str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "WARNING", "-s", str(tmp / "beat")],
              named(env, "platform-beat"), "beat")
        ref, ref_log = start(ref_command, ref_env, "reference")
        if args.compare_asgi:
            asgi_port = free_port()
            asgi_command = readme_web_command(port=asgi_port, workers=args.workers)
            asgi_command[1] = "bench.asgi_http:application"
            # Connections closed after each request: kept (CONN_MAX_AGE) they piled up per thread
            # to max_connections, on a PostgreSQL server that others share.
            asgi, asgi_log = start(asgi_command, {**named(env, "asgi"), "DATABASE_CONN_MAX_AGE": "0"}, "asgi")
            wait_up(f"http://127.0.0.1:{asgi_port}/health", asgi, asgi_log)
        platform, reference = f"http://127.0.0.1:{platform_port}", f"http://127.0.0.1:{reference_port}"
        wait_up(f"{platform}/health", web, web_log)
        wait_up(f"{reference}/json", ref, ref_log)
        key_header = {"Authorization": f"Bearer {key}"}
        ref_key_header = {"Authorization": f"Bearer {REFERENCE_KEY}"}
        # name → (URL, headers, the application_name whose PostgreSQL connections are counted)
        targets = {
            "platform /health": (f"{platform}/health", {}, "platform-web"),
            "reference bare Django JSON": (f"{reference}/json", {}, "reference"),
            "platform 20-node list (key, limits, metering)": (f"{platform}/api/v1/nodes?page_size=20", key_header,
                                                              "platform-web"),
            "reference bare DRF 20-row list": (f"{reference}/drf/items", {}, "reference"),
            "reference typical stack 20-row list": (f"{reference}/typical/items", ref_key_header, "reference"),
        }
        if args.compare_asgi:
            targets["platform, HTTP via Django ASGI: /health"] = (f"http://127.0.0.1:{asgi_port}/health", {}, "asgi")
            targets["platform, HTTP via Django ASGI: 20-node list"] = (
                f"http://127.0.0.1:{asgi_port}/api/v1/nodes?page_size=20", key_header, "asgi")
        metered = in_flight_bound = 0
        for url, headers, _app in targets.values():  # warm up: pools, caches, key snapshots
            result = wrk(url, 16, 3, headers)
            if "/api/v1/" in url:
                metered, in_flight_bound = metered + result["requests"], in_flight_bound + 16
        load_before = os.getloadavg()
        results: dict = {}
        sampler = ConnectionSampler()
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        for round_index in range(args.rounds):
            for connections in args.connections:
                for name, (url, headers, app) in targets.items():
                    with sampler:
                        result = wrk(url, connections, args.duration, headers)
                    result["pg"] = sampler.peak[app]
                    result["pg_total"] = sampler.total_peak
                    result.pop("raw")
                    results.setdefault((name, connections), []).append(result)
                    if "/api/v1/" in url:
                        metered += result["requests"]
                        in_flight_bound += connections
                    print(round_index, connections, name, json.dumps(result), flush=True)
        load_after = os.getloadavg()

        # wrk counts completed responses; requests still in flight when it stops were served
        # too, so rows may exceed its count by at most the connections of each run.
        rows = settle_rows(env, metered)
        before_exact = rows
        statuses = exact_requests(platform, key_header, args.exact)
        after_exact = settle_rows(env, before_exact + args.exact)

        print(f"\n{started}; load average before {load_before[0]:.1f}, after {load_after[0]:.1f}; "
              f"{args.rounds} rounds × {args.duration} s per target; web: {' '.join(web_command[1:])}; "
              f"reference: gunicorn -w {args.workers} (sync)")
        print(f"{'target':48} {'conns':>5} {'req/s':>14} {'p50 ms':>12} {'p99 ms':>14} {'non-2xx':>7} "
              f"{'errors':>6} {'pg conns':>8}")
        summary = {}
        for (name, connections), runs in results.items():
            rps = [r["rps"] for r in runs]
            summary[(name, connections)] = statistics.median(rps)
            print(f"{name:48} {connections:5d} {min(rps):6.0f}–{max(rps):<6.0f} "
                  f"{min(r['p50'] for r in runs):5.1f}–{max(r['p50'] for r in runs):<5.1f} "
                  f"{min(r['p99'] for r in runs):6.1f}–{max(r['p99'] for r in runs):<6.1f} "
                  f"{sum(r['non_2xx'] for r in runs):7d} {sum(r['socket_errors'] for r in runs):6d} "
                  f"{max(r['pg'] for r in runs):8d}")
        print("\nratios of medians (per connection count):")
        pairs = [("platform /health", "reference bare Django JSON", 0.8),
                 ("platform 20-node list (key, limits, metering)", "reference typical stack 20-row list", 1.5),
                 ("platform 20-node list (key, limits, metering)", "reference bare DRF 20-row list", 0.85)]
        for connections in args.connections:
            for ours, theirs, target in pairs:
                ratio = summary[(ours, connections)] / summary[(theirs, connections)]
                per_round = [a["rps"] / b["rps"] for a, b in zip(results[(ours, connections)],
                                                                  results[(theirs, connections)], strict=True)]
                print(f"  c={connections:<3} {ours} / {theirs}: {ratio:.2f}× (rounds {min(per_round):.2f}–"
                      f"{max(per_round):.2f}; target ≥ {target}×)")
        print(f"\nmetering under wrk: {rows} usage rows for {metered} completed requests "
              f"(rows − completed = {rows - metered}, in-flight bound {in_flight_bound})")
        print(f"metering exact: {args.exact} requests ({dict(statuses)}) → {after_exact - before_exact} new rows")
        print(f"most PostgreSQL client connections seen at once, by process kind: {dict(sampler.overall)}; "
              f"all databases (other users of the server included): {sampler.overall_peak}; "
              f"max_connections = {sampler.admin.execute('SHOW max_connections').fetchone()[0]}")
    finally:
        processes.stop()


if __name__ == "__main__":
    main()
