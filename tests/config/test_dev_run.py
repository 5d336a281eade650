"""`make run` as a new user meets it: the Procfile under honcho on the embedded default (SQLite
file, filesystem broker), with real uvicorn, Celery worker and beat processes sharing the file."""
import threading
import time
from collections import Counter

import httpx
import pytest

from tests.config.platform import HONCHO, UP_LINE, Platform, alive
from tests.monitoring.servers import http_server

pytestmark = [
    pytest.mark.platform,
    pytest.mark.slow,  # about a minute each on a loaded machine; `make test` runs them, `make test-fast` not
    pytest.mark.skipif(not HONCHO.exists(), reason="needs the project's .venv (make test creates it)"),
]
PASSWORD = "a-long-enough-passphrase-2026"
NODES = 15
SIGN_INS = 30


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("platform")


@pytest.fixture
def platform(folder):
    platforms = []

    def start(**env) -> Platform:
        platform = Platform(folder, **env)
        platforms.append(platform)
        platform.start()
        return platform

    yield start
    for platform in platforms:
        if platform.process.poll() is None:
            platform.kill()


def _post(client, path, body, token=None, tenant=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if tenant:
        headers["X-Tenant"] = tenant
    return client.post(path, json=body, headers=headers)


def _signed_in(client, email) -> str:
    assert _post(client, "/api/v1/auth/register", {"email": email, "password": PASSWORD}).status_code == 201
    response = _post(client, "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["access"]


def test_sign_ins_succeed_while_clients_write_and_the_worker_polls(platform):
    with http_server() as receiver:
        run = platform(
            REQUIRE_EMAIL_VERIFICATION="false", OUTBOUND_ALLOW_PRIVATE="true", MONITORING_DEFAULT_INTERVAL_SECONDS="10",
            AUTH_RATE_LIMIT="1000/m", AUTH_IP_RATE_LIMIT="1000/m",
        )
        client = httpx.Client(base_url=run.url, timeout=60)
        first, second = _signed_in(client, "writer1@example.com"), _signed_in(client, "writer2@example.com")
        _signed_in(client, "signer@example.com")
        slug = _post(client, "/api/v1/tenants", {"name": "Load"}, first).json()["slug"]
        other_slug = _post(client, "/api/v1/tenants", {"name": "Other"}, second).json()["slug"]
        node_ids = []
        for n in range(NODES):
            created = _post(client, "/api/v1/nodes",
                            {"name": f"node-{n}", "address": "127.0.0.1", "port": receiver.port, "path": "/ok"},
                            first, slug)
            assert created.status_code == 201, created.text
            node_ids.append(created.json()["id"])

        statuses: dict[str, list[int]] = {"writes": [], "sign-ins": []}
        stop = threading.Event()

        def write(token, tenant, path, body_for):
            headers = {"Authorization": f"Bearer {token}", "X-Tenant": tenant}
            with httpx.Client(base_url=run.url, timeout=60) as own:
                n = 0
                while not stop.wait(0.1):  # ≤ 10 writes/s: under the owner's 1000/m rate limit
                    n += 1
                    statuses["writes"].append(own.patch(path(n), json=body_for(n), headers=headers).status_code)

        def sign_in(times):
            with httpx.Client(base_url=run.url, timeout=60) as own:
                for _ in range(times):
                    response = _post(own, "/api/v1/auth/login", {"email": "signer@example.com", "password": PASSWORD})
                    statuses["sign-ins"].append(response.status_code)

        writers = [
            threading.Thread(target=write, args=(first, slug, lambda n: f"/api/v1/nodes/{node_ids[n % NODES]}",
                                                 lambda n: {"tags": [f"t{n}"]})),
            threading.Thread(target=write, args=(second, other_slug, lambda n: f"/api/v1/tenants/{other_slug}",
                                                 lambda n: {"name": f"Other {n}"})),
        ]
        signers = [threading.Thread(target=sign_in, args=(SIGN_INS // 3,)) for _ in range(3)]
        started = time.monotonic()
        for thread in writers + signers:
            thread.start()
        for thread in signers:
            thread.join(180)

        def all_polled():
            listed = client.get("/api/v1/nodes?page_size=100", headers={"Authorization": f"Bearer {first}",
                                                                      "X-Tenant": slug}).json()["results"]
            return sum(1 for node in listed if node["last_checked_at"]) == NODES

        polled = run.wait_for(all_polled, 90)
        stop.set()
        for thread in writers:
            thread.join(60)
        elapsed = time.monotonic() - started
        stop_seconds = run.interrupt()

    log = run.output
    summary = (f"{len(statuses['sign-ins'])} sign-ins, {len(statuses['writes'])} writes in {elapsed:.1f}s, "
               f"{len(receiver.hits)} checks received, stopped in {stop_seconds:.1f}s")
    print(summary)  # the figures docs/reliability.md quotes (pytest -s)
    assert polled, f"not every node was polled: {summary}\n{log[-4000:]}"
    assert statuses["sign-ins"] == [200] * SIGN_INS, (summary, Counter(statuses["sign-ins"]))
    assert statuses["writes"] and set(statuses["writes"]) == {200}, (summary, Counter(statuses["writes"]))
    assert "database is locked" not in log
    assert len({hit[1] for hit in receiver.hits}) >= 1 and len(receiver.hits) >= NODES
    # Development runs keep Celery's routine task traffic at DEBUG (the run outlasted several ticks).
    assert "Sending due task" not in log and "] received" not in log and " succeeded in " not in log


def test_ctrl_c_stops_web_worker_and_beat_cleanly(platform):
    run = platform()
    output = run.output
    # The one-time password comes last: after the worker's and beat's start-up banners.
    up = output.index(UP_LINE)
    assert output.index(" ready.") < up and output.index("beat: Starting...") < up
    assert "Created operator admin@localhost with password " in output[up:]
    pids = run.child_pids()
    assert len(pids) == 4

    seconds = run.interrupt()

    output = run.output
    print(f"Ctrl-C: honcho and its {len(pids)} processes gone in {seconds:.1f}s")
    assert "SIGKILL" not in output, output[-3000:]
    assert "ERROR" not in output and "[error" not in output and "Traceback" not in output, output[-3000:]
    stopped = [line for line in output.splitlines() if " stopped (rc=" in line]
    assert len(stopped) == 4, output[-3000:]
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if alive(pid)]
