"""Running checks: pure async code over the outbound guard, no database access.

The poller loads node specs, runs `run_many()` inside one event loop with bounded
concurrency, and hands the results back to the services that write them.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from core import outbound
from monitoring.check_config import metric_value, path_segments
from monitoring.models import Node, Status

MAX_CHECK_BODY_BYTES = 64 * 1024
MAX_ERROR_LENGTH = 500


@dataclass(frozen=True)
class CheckSpec:
    """What a check needs from a node, detached from the ORM so it crosses into the loop."""

    node_id: str
    check_type: str
    address: str
    port: int
    tls: bool
    path: str
    expected_status: int
    expected_body: str
    expected_json_field: str
    expected_json_value: str
    timeout_seconds: float
    rpc_method: str = ""
    rpc_params: list | dict | None = None
    expected_result: str = ""
    expected_result_value: str = ""
    metrics: dict | None = None  # {"name": "dotted.path"}

    @classmethod
    def from_node(cls, node: Node) -> CheckSpec:
        return cls(
            node_id=str(node.pk),
            check_type=node.check_type,
            address=node.address,
            port=node.port,
            tls=node.tls,
            path=node.path or "/",
            expected_status=node.expected_status,
            expected_body=node.expected_body,
            expected_json_field=node.expected_json_field,
            expected_json_value=node.expected_json_value,
            timeout_seconds=float(node.timeout_seconds),
            rpc_method=node.rpc_method,
            rpc_params=node.rpc_params,
            expected_result=node.expected_result,
            expected_result_value=node.expected_result_value,
            metrics=node.metrics or None,
        )

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{self.path}"


@dataclass
class CheckResult:
    node_id: str
    checked_at: datetime
    ok: bool
    latency_ms: float | None
    http_status: int | None = None
    error: str = ""
    # The outbound guard refused the destination: nothing was checked, so this says nothing
    # about the node's health; it is a configuration error (see docs/monitoring.md).
    configuration_error: bool = False
    # The declared metrics found in a successful answer ({"name": number}); None: none recorded.
    metrics: dict | None = None

    def snapshot_status(self, degraded_latency_ms: float) -> str:
        if self.configuration_error:
            return Status.UNKNOWN
        if not self.ok:
            return Status.DOWN
        if self.latency_ms is not None and self.latency_ms > degraded_latency_ms:
            return Status.DEGRADED
        return Status.UP


def _json_field(document, dotted: str):
    current = document
    for part in path_segments(dotted):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise KeyError(dotted)
    return current


def _as_text(value) -> str:
    """How an expected value is compared: JSON's spelling of true/false/null, str() otherwise."""
    return json.dumps(value) if isinstance(value, bool) or value is None else str(value)


def _expectation(document, path: str, expected: str, what: str) -> str:
    """Empty string when `path` exists in `document` (and, with `expected`, equals it as text)."""
    try:
        value = _json_field(document, path)
    except KeyError:
        return f"{what} {path!r} is missing"
    if expected and _as_text(value) != expected:
        return f"{what} {path!r} is {value!r}, expected {expected!r}"
    return ""


def extract_metrics(document, metrics: dict | None) -> dict | None:
    """The declared metrics that are numbers in `document`; missing or non-numeric ones are
    left out (a metric absent from one answer is no failure of the check)."""
    if not metrics:
        return None
    found = {}
    for name, path in metrics.items():
        try:
            number = metric_value(_json_field(document, path))
        except KeyError:
            continue
        if number is not None:
            found[name] = number
    return found or None


def evaluate_http(spec: CheckSpec, response: outbound.OutboundResponse) -> tuple[str, object]:
    """(why the response fails the node's expectations or "", its parsed JSON or None)."""
    if response.status != spec.expected_status:
        return f"expected HTTP {spec.expected_status}, got {response.status}", None
    if spec.expected_body and spec.expected_body.encode() not in response.body:
        return f"body does not contain {spec.expected_body!r}", None
    if not (spec.expected_json_field or spec.metrics):
        return "", None
    try:
        document = json.loads(response.body)
    except ValueError:
        return ("body is not JSON" if spec.expected_json_field else ""), None
    if spec.expected_json_field:
        return _expectation(document, spec.expected_json_field, spec.expected_json_value, "JSON field"), document
    return "", document


def jsonrpc_request(spec: CheckSpec) -> bytes:
    call = {"jsonrpc": "2.0", "id": 1, "method": spec.rpc_method}
    if spec.rpc_params is not None:
        call["params"] = spec.rpc_params
    return json.dumps(call).encode()


def evaluate_jsonrpc(spec: CheckSpec, response: outbound.OutboundResponse) -> tuple[str, object]:
    """(why the JSON-RPC answer fails or "", its `result`). An `error` object fails the check
    with its message whatever the HTTP status (servers answer errors with 200 or 500)."""
    try:
        answer = json.loads(response.body)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        error = answer["error"]
        return f"JSON-RPC error {error.get('code')}: {error.get('message', '')}", None
    if response.status != spec.expected_status:
        return f"expected HTTP {spec.expected_status}, got {response.status}", None
    if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0" or "result" not in answer:
        return "not a JSON-RPC 2.0 answer with a result", None
    if answer.get("id") != 1:
        return f"JSON-RPC answer to another call (id {answer.get('id')!r})", None
    result = answer["result"]
    if spec.expected_result:
        return _expectation(result, spec.expected_result, spec.expected_result_value, "result field"), result
    return "", result


async def run_one(spec: CheckSpec) -> CheckResult:
    checked_at = timezone.now()
    started = time.perf_counter()
    try:
        if spec.check_type == Node.CheckType.TCP:
            latency = await outbound.tcp_connect(spec.address, spec.port, timeout=spec.timeout_seconds)
            return CheckResult(spec.node_id, checked_at, True, latency)
        if spec.check_type == Node.CheckType.JSONRPC:
            response = await outbound.request(
                "POST", spec.url, headers={"Content-Type": "application/json", "Accept": "application/json"},
                content=jsonrpc_request(spec), timeout=spec.timeout_seconds, max_bytes=MAX_CHECK_BODY_BYTES,
                follow_redirects=0,  # a redirected POST would become a GET: not the call
            )
        else:
            response = await outbound.request(
                "GET",
                spec.url,
                timeout=spec.timeout_seconds,
                max_bytes=MAX_CHECK_BODY_BYTES,
                follow_redirects=3,
            )
    except outbound.OutboundBlocked as exc:
        error = f"refused by the outbound guard: {exc}"[:MAX_ERROR_LENGTH]
        return CheckResult(spec.node_id, checked_at, False, None, error=error, configuration_error=True)
    except outbound.OutboundError as exc:
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        return CheckResult(spec.node_id, checked_at, False, elapsed, error=str(exc)[:MAX_ERROR_LENGTH])
    evaluate = evaluate_jsonrpc if spec.check_type == Node.CheckType.JSONRPC else evaluate_http
    failure, document = evaluate(spec, response)
    return CheckResult(spec.node_id, checked_at, not failure, response.elapsed_ms, response.status,
                       failure[:MAX_ERROR_LENGTH], metrics=None if failure else extract_metrics(document, spec.metrics))


async def run_many(specs: list[CheckSpec], *, concurrency: int) -> list[CheckResult]:
    """Check every spec, at most `concurrency` at a time. Every check opens its own connection,
    so it measures what a new client of the node would see."""
    semaphore = asyncio.Semaphore(max(1, concurrency))

    async def bounded(spec: CheckSpec) -> CheckResult:
        async with semaphore:
            return await run_one(spec)

    return list(await asyncio.gather(*(bounded(spec) for spec in specs)))


def run_checks(specs: list[CheckSpec], *, concurrency: int) -> list[CheckResult]:
    """Synchronous entry point for services and tasks."""
    if not specs:
        return []
    return outbound.run_sync(run_many(specs, concurrency=concurrency))
