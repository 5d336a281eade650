"""Recommendations through the README's production server, over a real socket (run by hand).

    flock /work/heavy.lock .venv/bin/python bench/recommendations_http.py ml-100k.inter ml-100k.item \
        [--rounds 3] [--duration 10] [--connections 16] [--ingest-events 400000]
(the files: see bench/recommendations_movielens.py)

The harness is bench/http_bench.py's: the README's web command (bench/production.py, `--workers
2`), DEBUG=false, on PostgreSQL (a scratch database `gs_rec_bench`, `BENCH_PG`) and Redis
(`BENCH_REDIS_URL`, default db 4), with a Celery worker and beat beside it; wrk drives the load.
Automatic retraining is off (`RECOMMENDER_RETRAIN_AFTER_INTERACTIONS=0`) so that no training
runs during the measurements; the one training is requested through the API.

1. A tenant on a plan without practical limits, an API key (read, write, execute), the
   MovieLens-100k catalogue through `POST /items`.
2. Ingest, `--clients` (16) concurrent clients, calls of 5,000 events with ids and timestamps:
   the 75 % training split into the bench tenant, then `--ingest-events` synthetic events over
   the same items into a second tenant (the rate reported), then that stream again (all
   duplicates). Events/s = events accepted (or counted duplicate) / wall time.
3. Training on the worker (`POST /recommendation-models/train`), until `ready`.
4. `POST /recommendations` with wrk, `--connections` clients: known users (personalised) and
   unknown users (the popularity answer of the same model: the cold-start baseline), alternating
   target by target in each round; p50, p99, req/s, non-2xx. Beside them, the floors: `/health`
   (no gateway) and `GET /satellites/echo` with the same key (authenticated, limited, metered,
   tenant from the snapshot, no query: what any API request costs before its own work).
5. NDCG@10 through the socket for every test user (one client), and popularity's NDCG@10 on the
   same split: the cold-start answer (count 100) with each user's training items removed.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.http_bench import Processes, free_port, named, platform_env, recreate, wait_up, wrk  # noqa: E402
from bench.production import readme_web_command  # noqa: E402
from recommendations import engine  # noqa: E402

DATABASE = "gs_rec_bench"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
BIN = Path(sys.executable).parent
BATCH = 5000
SETUP = """
import json
from apikeys.services import api_key_create
from tenants import services as tenant_services
from tenants.models import Tenant
plan = tenant_services.plan_create(name="Bench", slug="bench", rates=["100000000/m"])
secrets = []
for slug in ("bench-movielens", "bench-ingest"):
    tenant = Tenant.objects.create(name=slug, slug=slug, plan=plan)
    secrets.append(api_key_create(tenant=tenant, name="bench", scopes=["read", "write", "execute"])[1])
print(json.dumps(secrets))
"""
LUA = """
wrk.headers["Content-Type"] = "application/json"  -- beside the -H headers (the API key)
local users = {%(users)s}
local counter = 0
request = function()
  counter = counter + 1
  local body = '{"user_id": "' .. users[math.random(#users)] .. %(suffix)s .. '", "count": 10}'
  return wrk.format("POST", "/api/v1/recommendations", nil, body)
end
"""


def rows(path: str) -> list[list[str]]:
    with open(path, encoding="latin-1") as lines:
        return [line.rstrip("\n").split("\t") for line in lines][1:]


def split(inter_path: str):
    """The per-user 75/25 split of bench/recommendations_api.py (engine.holdout_split, fixed seed)."""
    ratings = rows(inter_path)
    users = np.asarray([int(r[0]) for r in ratings])
    items = np.asarray([int(r[1]) for r in ratings])
    user_codes = np.unique(users, return_inverse=True)[1]
    item_codes = np.unique(items, return_inverse=True)[1]
    matrix = engine.user_item_matrix(user_codes, item_codes, np.ones(len(users), np.float32),
                                     user_codes.max() + 1, item_codes.max() + 1)
    _train, test_users, truths = engine.holdout_split(matrix)
    held = {(u, i) for u, truth in zip(test_users, truths, strict=True) for i in truth}
    train = [(str(users[n]), str(items[n])) for n in range(len(users)) if (user_codes[n], item_codes[n]) not in held]
    code_to_user, code_to_item = np.unique(users), np.unique(items)
    tests = {str(code_to_user[u]): {str(code_to_item[i]) for i in truth}
             for u, truth in zip(test_users, truths, strict=True)}
    return train, tests


def bodies(pairs: list[tuple[str, str]], prefix: str) -> list[bytes]:
    events = [{"user_id": user, "item_id": item, "type": "rating", "value": 4, "id": f"{prefix}{n}",
               "timestamp": "1998-01-01T00:00:00Z"} for n, (user, item) in enumerate(pairs)]
    return [json.dumps({"interactions": events[start:start + BATCH]}).encode()
            for start in range(0, len(events), BATCH)]


def ingest(base: str, secret: str, calls: list[bytes], clients: int) -> dict:
    """All calls through `clients` keep-alive connections at once; accepted/duplicates summed."""
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0, "non_2xx": 0}
    with httpx.Client(base_url=base, headers=headers, timeout=120,
                      limits=httpx.Limits(max_connections=clients)) as client, ThreadPoolExecutor(clients) as pool:
        started = time.perf_counter()
        for response in pool.map(lambda body: client.post("/api/v1/interactions", content=body), calls):
            if response.status_code != 202:
                totals["non_2xx"] += 1
                continue
            answer = response.json()
            totals["accepted"] += answer["accepted"]
            totals["duplicates"] += answer["duplicates"]
            totals["rejected"] += len(answer["rejected"])
        totals["seconds"] = time.perf_counter() - started
    totals["per_second"] = (totals["accepted"] + totals["duplicates"]) / totals["seconds"]
    return totals


def train(client: httpx.Client) -> dict:
    response = client.post("/api/v1/recommendation-models/train")
    assert response.status_code == 202, response.text
    version = response.json()["version"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        model = client.get(f"/api/v1/recommendation-models/{version}").json()
        if model["status"] != "training":
            assert model["status"] == "ready", model
            return model
        time.sleep(0.5)
    raise SystemExit("the training did not finish")


def ndcg(client: httpx.Client, train_pairs, tests: dict) -> tuple[float, float]:
    """NDCG@10 of the personal answers and of the popularity answer (seen items removed)."""
    discounts = 1 / np.log2(np.arange(2, 12))
    seen: dict[str, set] = {}
    for user, item in train_pairs:
        seen.setdefault(user, set()).add(item)
    popular = [item["id"] for item in client.post("/api/v1/recommendations",
                                                  json={"user_id": "bench-cold", "count": 100}).json()["items"]]

    def score(answer: list[str], truth: set) -> float:
        hits = np.asarray([item in truth for item in answer[:10]] + [False] * 10)[:10]
        return float((hits * discounts).sum() / discounts[:min(len(truth), 10)].sum())

    personal, baseline = [], []
    for user, truth in tests.items():
        answer = client.post("/api/v1/recommendations", json={"user_id": user, "count": 10}).json()
        assert answer["strategy"] == "personalized", answer
        personal.append(score([item["id"] for item in answer["items"]], truth))
        baseline.append(score([item for item in popular if item not in seen[user]], truth))
    return float(np.mean(personal)), float(np.mean(baseline))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("inter")
    parser.add_argument("item")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, nargs="+", default=[16])
    parser.add_argument("--clients", type=int, default=16, help="concurrent ingest clients")
    parser.add_argument("--ingest-events", type=int, default=400_000)
    parser.add_argument("--workers", type=int, default=2, help="web processes")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="gs-rec-bench-"))
    env = {**platform_env(tmp, database=DATABASE, redis_url=REDIS_URL), "RECOMMENDER_RETRAIN_AFTER_INTERACTIONS": "0"}
    recreate(DATABASE)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", SETUP], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)
    secret, ingest_secret = json.loads(out.stdout.strip().splitlines()[-1])
    train_pairs, tests = split(args.inter)
    catalogue = [{"id": r[0], "title": r[1] or r[0]} for r in rows(args.item)]
    rng = random.Random(1)
    stream = [(f"s{rng.randrange(20_000)}", rng.choice(catalogue)["id"]) for _ in range(args.ingest_events)]

    port = free_port()
    web_command = readme_web_command(port=port, workers=args.workers)
    processes = Processes(tmp)
    try:
        web, web_log = processes.start(web_command, named(env, "platform-web"), "web")
        processes.start([str(BIN / "celery"), "-A", "config", "worker", "--concurrency", "2", "--loglevel", "WARNING"],
                        named(env, "platform-worker"), "worker")
        processes.start([str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "WARNING", "-s",
                         str(tmp / "beat")], named(env, "platform-beat"), "beat")
        base = f"http://127.0.0.1:{port}"
        wait_up(f"{base}/health", web, web_log)
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=120)
        for start in range(0, len(catalogue), 1000):
            for key in (secret, ingest_secret):
                response = client.post("/api/v1/items", json={"items": catalogue[start:start + 1000]},
                                       headers={"Authorization": f"Bearer {key}"})
                assert response.status_code == 200 and not response.json()["rejected"], response.text[:300]

        load_before = os.getloadavg()
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        results = {"ml-100k training split (bench tenant)": ingest(base, secret, bodies(train_pairs, "m"),
                                                                   args.clients)}
        stream_calls = bodies(stream, "s")
        results["synthetic stream, new events"] = ingest(base, ingest_secret, stream_calls, args.clients)
        results["synthetic stream again, all duplicates"] = ingest(base, ingest_secret, stream_calls, args.clients)
        for name, result in results.items():
            print(f"ingest {name}: {json.dumps(result)}", flush=True)

        model = train(client)
        print(f"model v{model['version']} {model['algorithm']} {model['metrics']} {model['duration_ms']} ms",
              flush=True)

        known = ", ".join(f'"{user}"' for user in tests)
        scripts = {}
        for name, suffix in (("personalised", "''"), ("popularity (cold-start users)", "'-cold-' .. counter")):
            scripts[name] = tmp / f"{len(scripts)}.lua"
            scripts[name].write_text(LUA % {"users": known, "suffix": suffix})
        assert client.post("/api/v1/recommendations", json={"user_id": "1-cold-1"}).json()["strategy"] == "popular"
        key_header = {"Authorization": f"Bearer {secret}"}
        targets = {"/health": (f"{base}/health", {}, None),
                   "GET /satellites/echo (key, limits, metering; no query)": (f"{base}/api/v1/satellites/echo",
                                                                            key_header, None),
                   **{f"POST /recommendations, {name}": (f"{base}/api/v1/recommendations", key_header, script)
                      for name, script in scripts.items()}}
        for url, headers, script in targets.values():  # warm up: every process loads the model
            wrk(url, 16, 3, headers, script)
        runs: dict = {}
        for round_index in range(args.rounds):
            for connections in args.connections:
                for name, (url, headers, script) in targets.items():
                    result = wrk(url, connections, args.duration, headers, script)
                    result.pop("raw")
                    runs.setdefault((name, connections), []).append(result)
                    print(round_index, connections, name, json.dumps(result), flush=True)
        load_after = os.getloadavg()
        api_ndcg, popularity_ndcg = ndcg(client, train_pairs, tests)

        print(f"\n{started}; load average before {load_before[0]:.1f}, after {load_after[0]:.1f}; "
              f"web: {' '.join(web_command[1:])}")
        print(f"{'target':52} {'conns':>5} {'req/s':>13} {'p50 ms':>11} {'p99 ms':>13} {'non-2xx':>7} {'errors':>6}")
        for (name, connections), result in runs.items():
            rps = [r["rps"] for r in result]
            print(f"{name:52} {connections:5d} {min(rps):6.0f}–{max(rps):<6.0f} "
                  f"{min(r['p50'] for r in result):5.1f}–{max(r['p50'] for r in result):<5.1f} "
                  f"{min(r['p99'] for r in result):6.1f}–{max(r['p99'] for r in result):<6.1f} "
                  f"{sum(r['non_2xx'] for r in result):7d} {sum(r['socket_errors'] for r in result):6d}  "
                  f"(median p50 {statistics.median(r['p50'] for r in result):.1f}, "
                  f"p99 {statistics.median(r['p99'] for r in result):.1f})")
        for name, result in results.items():
            print(f"ingest, {args.clients} clients, calls of {BATCH}: {name}: "
                  f"{result['accepted'] + result['duplicates']} events in {result['seconds']:.1f} s = "
                  f"{result['per_second']:,.0f}/s (accepted {result['accepted']}, duplicates {result['duplicates']}, "
                  f"rejected {result['rejected']}, non-2xx calls {result['non_2xx']})")
        print(f"NDCG@10 through the socket over {len(tests)} users: model {api_ndcg:.4f}, "
              f"popularity {popularity_ndcg:.4f} (same split, same run); training {model['duration_ms']} ms")
    finally:
        processes.stop()


if __name__ == "__main__":
    main()
