"""Done-when of the live status, with real processes: the Procfile's uvicorn (two web processes)
and celery workers (two), on the embedded default (SQLite file, filesystem broker, in-memory
layer + outbox) and, when DATABASE_URL/REDIS_URL name them, on PostgreSQL + Redis.

WebSocket clients without an `Origin` header, on either web process, send text `ping` and get
`pong`, see the `run.status` `succeeded` of a run a worker finished and a node's poll-driven
`down`; the other web process's `/metrics` counts the worker's checks and runs; and none of the
credentials used (API key, JWT, personal token, also sent in query strings) is in any output.
"""
import json
import os
import re
import subprocess
import sys
import threading
import time

import httpx
import pytest
from websockets.sync.client import connect

from tests.monitoring.processes import ROOT, Processes, private_database
from tests.monitoring.servers import http_server
from tests.plugins import secret_scan

pytestmark = pytest.mark.worker
EVENT_TIMEOUT = 45.0


def _shapes():
    shapes = [pytest.param(None, id="embedded")]
    database, redis = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if database.startswith("postgres") and redis:
        shapes.append(pytest.param((database, redis), id="postgres+redis"))
    return shapes


def driver(env, *args) -> dict:
    out = subprocess.run([sys.executable, "-m", "tests.monitoring.live_driver", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


class Client(threading.Thread):
    """One WebSocket client: pings, then records every frame until it has seen what it waits for."""

    def __init__(self, url: str, **options) -> None:
        super().__init__(daemon=True)
        self.socket = connect(url, open_timeout=20, legacy=True, **options)  # closed in run()
        self.frames: list = []
        self.done = threading.Event()

    def run(self) -> None:
        self.socket.send("ping")
        try:
            while not self.done.is_set():
                raw = self.socket.recv(timeout=EVENT_TIMEOUT)
                self.frames.append(raw if raw == "pong" else json.loads(raw))
                if self.complete():
                    self.done.set()
        except Exception as exc:  # a timeout or a dropped connection: the assertions report it
            self.frames.append(repr(exc))
        finally:
            self.socket.close()

    def events(self, name: str) -> list[dict]:
        return [f["data"] for f in self.frames if isinstance(f, dict) and f.get("event") == name]

    def complete(self) -> bool:
        return ("pong" in self.frames and any(r["status"] == "succeeded" for r in self.events("run.status"))
                and any(n["status"] == "down" for n in self.events("node.status")))


@pytest.mark.parametrize("shape", _shapes())
def test_worker_events_reach_websocket_clients_of_every_web_process(shape, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL")}
    env.update(OUTBOUND_ALLOW_PRIVATE="true", LOG_LEVEL="INFO", MONITORING_FAILURE_THRESHOLD="1",
               SECURE_SSL_REDIRECT="false", DEBUG="false",
               METRICS_TOKEN="live-metrics")
    if shape is None:
        env.update(CELERY_BROKER_URL="filesystem://", CELERY_BROKER_FOLDER=str(tmp_path / "broker"))
    else:
        env["REDIS_URL"] = shape[1]
    started = time.monotonic()
    with private_database(env, tmp_path, postgres_url=shape[0] if shape else None) as env, \
            http_server() as target:
        phases = {"database": time.monotonic() - started}
        world = driver(env, "setup", str(target.port))
        phases["setup"] = time.monotonic() - started
        secrets = [world["api_key"], world["jwt"], world["personal_token"]]
        for secret in secrets:
            secret_scan.remember(secret)
        processes = Processes(env, tmp_path)
        try:
            web = [processes.web("web1"), processes.web("web2")]
            processes.worker("worker1")
            processes.worker("worker2")
            for address in web:
                processes.wait_until_serving(address)
            phases["serving"] = time.monotonic() - started
            ws = "/api/v1/ws/status"
            clients = [
                Client(f"ws://{web[0]}{ws}?token={world['api_key']}"),
                Client(f"ws://{web[1]}{ws}?token={world['jwt']}&tenant={world['tenant']}"),
                Client(f"ws://{web[0]}{ws}?token={world['personal_token']}&tenant={world['tenant']}"),
                Client(f"ws://{web[1]}{ws}?tenant={world['tenant']}",
                       subprotocols=["groundstation", f"bearer.{world['jwt']}"]),
                Client(f"ws://{web[1]}{ws}", additional_headers={"Authorization": f"Bearer {world['api_key']}"}),
            ]
            assert clients[3].socket.subprotocol == "groundstation"
            hellos = [json.loads(c.socket.recv(timeout=10)) for c in clients]
            assert {h["event"] for h in hellos} == {"hello"}, hellos
            for client in clients:
                client.start()
            for address, secret in zip(web * 2, secrets, strict=False):  # credentials in query strings too
                reply = httpx.get(f"http://{address}/api/v1/status?token={secret}",
                                  headers={"Authorization": f"Bearer {secret}", "X-Tenant": world["tenant"]})
                assert reply.status_code == 200, reply.text
            trigger = httpx.post(f"http://{web[1]}/api/v1/clusters/{world['cluster_id']}/trigger?token={secrets[0]}",
                                 json={"inputs": {}}, headers={"X-API-Key": world["api_key"]}, timeout=20)
            assert trigger.status_code == 202, trigger.text
            driver(env, "poll")  # what beat does every 5 s: the worker checks the due node
            for client in clients:
                client.join(EVENT_TIMEOUT + 5)
            phases["events"] = time.monotonic() - started
            for client in clients:
                assert client.complete(), f"{client.frames}\n{processes.output()}"
            runs = [r for c in clients for r in c.events("run.status") if r["status"] == "succeeded"]
            assert {r["id"] for r in runs} == {trigger.json()["id"]}
            nodes = {n["node_id"] for c in clients for n in c.events("node.status") if n["status"] == "down"}
            assert nodes == {world["node_id"]}

            metrics = httpx.get(f"http://{web[0]}/metrics", headers={"Authorization": "Bearer live-metrics"}).text
            checks_down = re.search(r'^groundstation_checks_total\{status="down"\} (\S+)$', metrics, re.M)
            assert checks_down and float(checks_down.group(1)) >= 1, metrics[-3000:]
            assert (f'groundstation_runs{{kind="cluster",status="succeeded",tenant="{world["tenant_id"]}"}} 1.0'
                    in metrics)
            assert f'groundstation_nodes{{status="down",tenant="{world["tenant_id"]}"}} 1.0' in metrics
            processes.assert_running()
        finally:
            killed = processes.stop()
    output = processes.output()
    assert not killed, f"{killed} did not stop within 20 s of SIGTERM\n{output}"
    assert "WebSocket /api/v1/ws/status" in output  # the server's own lines are there, redacted
    for secret in secrets:
        assert secret not in "".join(log.read_text(errors="replace") for _n, _p, log in processes.started)
    assert "Traceback" not in output, output
    elapsed = time.monotonic() - started
    print(f"live end-to-end ({'embedded' if shape is None else 'postgres+redis'}): {elapsed:.1f} s", phases)
