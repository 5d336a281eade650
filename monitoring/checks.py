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
    for part in dotted.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise KeyError(dotted)
    return current


def evaluate_http(spec: CheckSpec, response: outbound.OutboundResponse) -> str:
    """Empty string when the response satisfies the node's expectations, else why not."""
    if response.status != spec.expected_status:
        return f"expected HTTP {spec.expected_status}, got {response.status}"
    if spec.expected_body and spec.expected_body.encode() not in response.body:
        return f"body does not contain {spec.expected_body!r}"
    if spec.expected_json_field:
        try:
            value = _json_field(json.loads(response.body), spec.expected_json_field)
        except (ValueError, KeyError):
            return f"JSON field {spec.expected_json_field!r} is missing"
        expected = spec.expected_json_value
        if expected and str(value if not isinstance(value, bool) else str(value).lower()) != expected:
            return f"JSON field {spec.expected_json_field!r} is {value!r}, expected {expected!r}"
    return ""


async def run_one(spec: CheckSpec) -> CheckResult:
    checked_at = timezone.now()
    started = time.perf_counter()
    try:
        if spec.check_type == Node.CheckType.TCP:
            latency = await outbound.tcp_connect(spec.address, spec.port, timeout=spec.timeout_seconds)
            return CheckResult(spec.node_id, checked_at, True, latency)
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
    failure = evaluate_http(spec, response)
    return CheckResult(spec.node_id, checked_at, not failure, response.elapsed_ms, response.status, failure)


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
