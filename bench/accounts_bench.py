"""Accounts benchmarks, run by hand (never in the test suite).

    .venv/bin/python bench/accounts_bench.py [--requests 500]

In-process (Django test client, no network), on a scratch test database (SQLite unless
DATABASE_URL is set — use a scratch database!). Reports per-request latency of `GET /auth/me`
authenticated by a JWT and by a personal access token, how many UPDATEs of `last_used_at` the
token caused (should be 1 per token per minute), and the login latency (dominated by the
password hasher, deliberately).
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production-0123456789")
os.environ.setdefault("LOG_LEVEL", "ERROR")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ["RATELIMIT_ENABLED"] = "false"  # measure the work, not the auth limiter's 429s


def timed(fn, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def report(name: str, samples: list[float]) -> None:
    samples = sorted(samples)
    p50 = statistics.median(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"{name:<34} n={len(samples):<5} p50={p50:7.2f} ms  p99={p99:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User
    from accounts.services import personal_token_create

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        password = "bench-passphrase-long-enough-1"
        user = User.objects.create_user("bench@example.com", password, verification_status="verified")
        _, raw = personal_token_create(user=user, name="bench")
        jwt_client = APIClient()
        jwt_client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
        pat_client = APIClient()
        pat_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

        assert jwt_client.get("/api/v1/auth/me").status_code == 200  # warm up
        report("GET /auth/me with a JWT", timed(lambda: jwt_client.get("/api/v1/auth/me"), args.requests))
        with CaptureQueriesContext(connection) as queries:
            assert pat_client.get("/api/v1/auth/me").status_code == 200
            samples = timed(lambda: pat_client.get("/api/v1/auth/me"), args.requests)
        report("GET /auth/me with a personal token", samples)
        updates = [q for q in queries.captured_queries if q["sql"].startswith("UPDATE") and "last_used_at" in q["sql"]]
        print(f"last_used_at UPDATEs over {args.requests + 1} token requests: {len(updates)}")

        login = APIClient()
        body = {"email": user.email, "password": password}
        assert login.post("/api/v1/auth/login", body, format="json").status_code == 200
        report("POST /auth/login", timed(lambda: login.post("/api/v1/auth/login", body, format="json"), 20))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
