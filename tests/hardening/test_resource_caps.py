"""Family 4: resource caps. Every hostile input is refused with the right envelope, and the
Python heap grows by little while it is handled (tracemalloc peak, recorded as a figure).
"""
import json
import time
import tracemalloc
from contextlib import contextmanager

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from core.api.pagination import MAX_PAGE_SIZE
from monitoring import consumers
from monitoring.models import Node
from orchestration.definition_yaml import MAX_BYTES
from tests.hardening import figures
from tests.hardening.routes import all_routes, protocol_headers
from tests.hardening.test_cross_tenant import error_code, param_values
from tests.hardening.world import World, body_text

MIB = 1024 * 1024


@contextmanager
def measured(results: dict, name: str):
    """Records the tracemalloc peak (MiB above the start) and the CPU time of the block (CPU, not
    wall time: the figure must not depend on how busy the machine is; tracemalloc itself makes
    Python code slower, so these are upper bounds)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    started = time.process_time()
    try:
        yield
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        results[name] = {"peak_growth_mib": round((peak - base) / MIB, 2),
                         "cpu_seconds": round(time.process_time() - started, 3)}


def write_routes():
    return [r for r in all_routes() if r.method in ("POST", "PUT", "PATCH") and r.template.startswith("/api/v1/")]


def oversized_request(route, settings) -> tuple[bytes | str, str, dict]:
    """A body over the route's own limit, in the route's own protocol. Upload routes accept more
    than MAX_REQUEST_BYTES by design (REQUEST_BODY_LIMITS): a multipart file over the simple
    upload limit, a tus upload declared over Tus-Max-Size, a tus chunk past its Upload-Length."""
    over = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024
    key = (route.method, route.template)
    if key == ("POST", "/api/v1/files/"):
        upload = SimpleUploadedFile("big.bin", b"x" * (settings.FILES_MAX_SIMPLE_UPLOAD_BYTES + 1024))
        return encode_multipart(BOUNDARY, {"file": upload}), MULTIPART_CONTENT, {}
    if key == ("POST", "/api/v1/uploads/"):
        return "", "", {**protocol_headers(route), "HTTP_UPLOAD_LENGTH": str(settings.FILES_MAX_UPLOAD_BYTES + 1)}
    if key == ("PATCH", "/api/v1/uploads/{pk}/"):
        return b"x" * over, "application/offset+octet-stream", {**protocol_headers(route), "HTTP_UPLOAD_OFFSET": "0"}
    return json.dumps({"name": "x" * over}), "application/json", {}


def test_oversized_and_deeply_nested_bodies_are_refused_on_every_write_route(world: World, settings):
    owner = world.attacker.principals["owner"]
    # The upload limits brought down to MAX_REQUEST_BYTES, so the oversized upload stays small.
    settings.FILES_MAX_SIMPLE_UPLOAD_BYTES = settings.FILES_MAX_UPLOAD_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    nested = "[" * 100_000 + "]" * 100_000
    results, failures, tried = {}, [], 0
    with measured(results, "oversized_json_all_routes"):
        for route in write_routes():
            path = route.template.format(**param_values(route, world.attacker))
            content, content_type, headers = oversized_request(route, settings)
            response = owner.client.generic(route.method, path, content, content_type=content_type, **headers)
            tried += 1
            if (response.status_code, error_code(response)) != (413, "PAYLOAD_TOO_LARGE"):
                failures.append(f"oversized {route}: {response.status_code} {body_text(response)[:150]}")
    with measured(results, "nested_json_all_routes"):
        for route in write_routes():
            path = route.template.format(**param_values(route, world.attacker))
            response = owner.client.generic(route.method, path, nested, content_type="application/json",
                                            **protocol_headers(route))
            tried += 1
            # 400 wherever the body is parsed; actions that take no body never parse it (200 is fine).
            if response.status_code >= 500:
                failures.append(f"nested {route}: {response.status_code} {body_text(response)[:150]}")
    assert not failures, "\n".join(failures)
    nodes = owner.client.generic("POST", "/api/v1/nodes", nested, content_type="application/json")
    assert (nodes.status_code, error_code(nodes)) == (400, "VALIDATION_ERROR"), body_text(nodes)[:300]
    for figure in results.values():
        assert figure["peak_growth_mib"] < 64
    figures.record("resource_caps.bodies", requests=tried, server_errors=0, **results)


def test_page_size_is_capped_on_every_list(world: World):
    owner = world.attacker.principals["owner"]
    tenant = world.attacker.tenant
    Node.objects.bulk_create(
        Node(tenant=tenant, name=f"bulk-{i}", address="192.0.2.1", port=80) for i in range(MAX_PAGE_SIZE + 10)
    )
    results, failures, lists = {}, [], 0
    with measured(results, "page_size_1e9_all_lists"):
        for route in all_routes():
            if route.method != "GET" or not route.template.startswith("/api/v1/"):
                continue
            path = route.template.format(**param_values(route, world.attacker))
            response = owner.client.get(path, {"page_size": 1_000_000_000})
            if response.status_code >= 500:
                failures.append(f"{route}: {response.status_code}")
                continue
            data = response.json() if response["Content-Type"].startswith("application/json") else None
            if isinstance(data, dict) and isinstance(data.get("results"), list) and "next" in data:
                lists += 1
                if len(data["results"]) > MAX_PAGE_SIZE:
                    failures.append(f"{route}: {len(data['results'])} rows")
    assert not failures, "\n".join(failures)
    assert lists >= 15
    page = owner.client.get("/api/v1/nodes", {"page_size": 1_000_000_000}).json()
    assert len(page["results"]) == MAX_PAGE_SIZE and page["next"]
    figures.record("resource_caps.page_size", paginated_lists=lists, max_rows_seen=MAX_PAGE_SIZE, **results)


def _billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghijklmnopqrstuvwxyz"
    for prev, name in zip(names[: levels - 1], names[1:levels], strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


HOSTILE_YAML = {
    "billion_laughs": _billion_laughs(),
    "quadratic_blowup": "s: &s " + "x" * 100_000 + "\nl: [" + ",".join(["*s"] * 99) + "]\n",
    "deep_nesting": "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "key_flood": "name: flood\n" + "".join(f"k{i}: {i}\n" for i in range(5_000)),
    "step_flood": "name: steps\nsteps:\n" + "".join(f"  - {{id: s{i}, satellite: echo}}\n" for i in range(2_100)),
    "oversized": "name: big\n# " + "x" * (MAX_BYTES + 10) + "\n",
    "python_tag": "name: x\nsteps: !!python/object/apply:os.system [\"true\"]\n",
}


@pytest.mark.parametrize("name", list(HOSTILE_YAML))
def test_hostile_cluster_yaml_is_refused_quickly_with_little_memory(tenant, owner, name):
    from tests.conftest import bearer_client

    client = bearer_client(owner, tenant)
    body = HOSTILE_YAML[name]
    results = {}
    with measured(results, name):
        as_yaml = client.generic("POST", "/api/v1/clusters", body.encode(), content_type="application/yaml")
        as_json = client.post("/api/v1/clusters", {"definition": body}, format="json")
    for response in (as_yaml, as_json):
        assert response.status_code in (400, 413), body_text(response)[:300]
        assert error_code(response) in ("VALIDATION_ERROR", "PAYLOAD_TOO_LARGE")
    assert results[name]["peak_growth_mib"] < 64, results
    started = time.process_time()  # again without tracemalloc, whose hooks slow parsing down a lot
    client.generic("POST", "/api/v1/clusters", body.encode(), content_type="application/yaml")
    untraced = round(time.process_time() - started, 3)
    figures.record(f"resource_caps.yaml.{name}", body_kib=round(len(body) / 1024, 1), cpu_seconds_untraced=untraced,
                   **results[name])


def _socket(world: World):
    secret = world.attacker.principals["key:read"].secret
    return WebsocketCommunicator(consumers_application(), f"/api/v1/ws/status?token={secret}",
                                 headers=[(b"origin", b"http://localhost")])


def consumers_application():
    from config.asgi import application

    return application


def test_websocket_closes_idle_clients_and_oversized_frames(world: World, monkeypatch, transactional_db):
    monkeypatch.setattr(consumers, "IDLE_SECONDS", 0.5)
    results = {}

    async def idle():
        communicator = _socket(world)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        assert (await communicator.receive_json_from(timeout=5))["event"] == "hello"
        await communicator.send_json_to({"type": "ping"})  # activity resets the idle clock
        assert (await communicator.receive_json_from(timeout=5))["event"] == "pong"
        closed = await communicator.receive_output(timeout=5)
        await communicator.wait()
        return closed

    async def oversized():
        communicator = _socket(world)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        await communicator.receive_json_from(timeout=5)
        await communicator.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * (4 * MIB)}))
        closed = await communicator.receive_output(timeout=5)
        await communicator.wait()
        return closed

    assert async_to_sync(idle)() == {"type": "websocket.close", "code": consumers.IDLE_CLOSE_CODE}
    with measured(results, "websocket_4mib_frame"):
        assert async_to_sync(oversized)() == {"type": "websocket.close", "code": consumers.TOO_BIG_CLOSE_CODE}
    figures.record("resource_caps.websocket", idle_limit="closed", max_frame_bytes=consumers.MAX_FRAME_BYTES,
                   **results)


def _sse_events(response) -> list[tuple[str, str | None]]:
    """(event, id) of every event in a finished SSE response."""
    text = b"".join(response.streaming_content).decode()
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            events.append((fields["event"], fields.get("id")))
    return events


def test_sse_log_streams_end_when_idle_and_after_a_byte_budget_without_losing_lines(world: World, monkeypatch):
    from orchestration.api import follow as run_follow
    from orchestration.models import StepLog

    monkeypatch.setattr(run_follow, "SSE_POLL_SECONDS", 0.05)
    monkeypatch.setattr(run_follow, "SSE_IDLE_SECONDS", 0.5)
    client = world.attacker.principals["viewer"].client
    run = world.attacker.objects["orchestration.Run"]  # queued, and no worker will ever take it
    path = f"/api/v1/runs/{run.pk}/logs"

    idle = _sse_events(client.get(path, HTTP_ACCEPT="text/event-stream"))
    assert idle and idle[0][0] == "status" and "end" not in {event for event, _ in idle}

    StepLog.objects.bulk_create(StepLog(run=run, step_id="a", message=f"line {i} " + "x" * 100) for i in range(1200))
    monkeypatch.setattr(run_follow, "SSE_MAX_BYTES", 20_000)
    results, seen, connections, after = {}, [], 0, None
    with measured(results, "sse_1200_lines_20kb_budget"):
        while len(seen) < 1200 and connections < 10:
            headers = {"HTTP_LAST_EVENT_ID": after} if after else {}
            events = _sse_events(client.get(path, HTTP_ACCEPT="text/event-stream", **headers))
            connections += 1
            ids = [event_id for event, event_id in events if event == "log"]
            seen += ids
            after = ids[-1] if ids else after
    # Each connection stops after one poll past the budget; reconnecting resumes exactly.
    assert len(seen) == len(set(seen)) == 1200 and connections >= 3
    figures.record("resource_caps.sse", idle_stream_events=len(idle), lines=1200, connections=connections,
                   lines_lost=0, lines_repeated=0, **results)
