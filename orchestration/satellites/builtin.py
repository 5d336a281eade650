"""The built-in satellites."""

from __future__ import annotations

import contextlib
import json

from core import outbound
from orchestration.satellites import expressions
from orchestration.satellites.registry import SatelliteError, StepContext, satellite

ANY_OBJECT = {"type": "object"}


@satellite(
    "echo",
    description="Returns its inputs unchanged (e.g. `message`). Useful to wire and test DAGs.",
    inputs={"type": "object", "properties": {"message": {"description": "Anything to echo back."}}},
    outputs=ANY_OBJECT,
    default_timeout=60,
    pure=True,
)
def echo(inputs: dict, ctx: StepContext) -> dict:
    return dict(inputs)


@satellite(
    "sleep",
    description="Sleeps `seconds` in short slices; a cancel or timeout ends it at once.",
    inputs={
        "type": "object",
        "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 3600}},
        "required": ["seconds"],
        "additionalProperties": False,
    },
    outputs={"type": "object", "properties": {"slept": {"type": "number"}}},
    default_timeout=3600,
)
def sleep(inputs: dict, ctx: StepContext) -> dict:
    ctx.log(f"sleeping {inputs['seconds']}s")
    ctx.sleep(float(inputs["seconds"]))
    return {"slept": inputs["seconds"]}


@satellite(
    "fail",
    description="Always fails with `message` (to exercise retries and failure handling).",
    inputs={
        "type": "object",
        "properties": {"message": {"type": "string", "maxLength": 2000}},
        "additionalProperties": False,
    },
    outputs=ANY_OBJECT,
    default_timeout=60,
    pure=True,
)
def fail(inputs: dict, ctx: StepContext) -> dict:
    raise SatelliteError(inputs.get("message") or "failed on purpose")


HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@satellite(
    "http.request",
    description=(
        "Makes an HTTP request through the outbound guard (no link-local/metadata, no private "
        "ranges unless OUTBOUND_ALLOW_PRIVATE). A JSON `body` is sent as JSON; a JSON response "
        "is parsed. Status ≥ 400 fails the step unless `fail_on_status` is false."
    ),
    inputs={
        "type": "object",
        "properties": {
            "method": {"type": "string", "enum": HTTP_METHODS, "default": "GET"},
            "url": {"type": "string", "minLength": 1, "maxLength": 2048},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
            "fail_on_status": {"type": "boolean", "default": True},
        },
        "required": ["url"],
        "additionalProperties": False,
    },
    outputs={
        "type": "object",
        "properties": {
            "status": {"type": "integer"},
            "headers": {"type": "object"},
            "body": {},
            "elapsed_ms": {"type": "number"},
            "truncated": {"type": "boolean"},
        },
    },
    default_timeout=120,
)
def http_request(inputs: dict, ctx: StepContext) -> dict:
    method = inputs.get("method", "GET")
    headers = dict(inputs.get("headers") or {})
    content = None
    if "body" in inputs and inputs["body"] is not None:
        body = inputs["body"]
        if isinstance(body, str):
            content = body.encode()
        else:
            content = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
    timeout = min(float(inputs.get("timeout_seconds", 30)), max(ctx.remaining(), 0.1))
    ctx.log(f"{method} {inputs['url']}")
    secret_headers = [name for name, value in headers.items() if any(s in str(value) for s in ctx.secret_values)]
    try:
        response = outbound.request_sync(method, inputs["url"], headers=headers, content=content, timeout=timeout,
                                         secret_headers=secret_headers)
    except outbound.OutboundBlocked as exc:
        raise SatelliteError(f"blocked: {exc}")
    except outbound.OutboundError as exc:
        raise SatelliteError(str(exc))
    text = response.body.decode("utf-8", errors="replace")
    body = text
    if "json" in response.headers.get("content-type", "") and not response.truncated:
        try:
            body = json.loads(text)
        except ValueError:
            body = text
    ctx.log(f"HTTP {response.status} in {response.elapsed_ms:.0f} ms ({len(response.body)} bytes)")
    if response.status >= 400 and inputs.get("fail_on_status", True):
        raise SatelliteError(f"HTTP {response.status} from {inputs['url']}")
    return {
        "status": response.status,
        "headers": response.headers,
        "body": body,
        "elapsed_ms": response.elapsed_ms,
        "truncated": response.truncated,
    }


@satellite(
    "json.transform",
    description="Evaluates a JMESPath `expression` over `data` (a safe query language; never eval).",
    inputs={
        "type": "object",
        "properties": {"data": {}, "expression": {"type": "string", "minLength": 1, "maxLength": 2000}},
        "required": ["data", "expression"],
        "additionalProperties": False,
    },
    outputs={"type": "object", "properties": {"result": {}}},
    default_timeout=60,
    pure=True,
    takes_secrets=False,
)
def json_transform(inputs: dict, ctx: StepContext) -> dict:
    data = inputs["data"]
    if isinstance(data, str):
        # Upstream HTTP bodies that were not labelled JSON arrive as text.
        with contextlib.suppress(ValueError):
            data = json.loads(data)
    try:
        result = expressions.evaluate(inputs["expression"], data)
    except ValueError as exc:
        raise SatelliteError(f"expression error: {exc}")
    return {"result": result}


@satellite(
    "agent.run",
    description=(
        "Runs an agent: renders its prompt with the input and asks the LLM (OpenAI-compatible "
        "chat completions at LLM_BASE_URL, or the deterministic local provider when unset)."
    ),
    inputs={
        "type": "object",
        "properties": {
            "agent": {"type": "string", "minLength": 1, "description": "Agent id or name."},
            "input": {},
            "title": {"type": "string"},
            "description": {"type": "string"},
        },
        "required": ["agent"],
        "additionalProperties": False,
    },
    outputs={
        "type": "object",
        "properties": {
            "content": {"type": "string"},
            "model": {"type": "string"},
            "provider": {"type": "string"},
            "usage": {"type": "object"},
        },
    },
    default_timeout=300,
    takes_secrets=False,
)
def agent_run(inputs: dict, ctx: StepContext) -> dict:
    from orchestration import llm, selectors

    agent = selectors.agent_get_by_ref(tenant=ctx.tenant_id, ref=inputs["agent"])
    if agent is None:
        raise SatelliteError(f"agent {inputs['agent']!r} not found")
    if not agent.is_active:
        raise SatelliteError(f"agent {agent.name!r} is not active")
    prompt = llm.render_prompt(
        agent.prompt,
        input=inputs.get("input"),
        title=inputs.get("title", ""),
        description=inputs.get("description", ""),
    )
    ctx.log(f"agent {agent.name} → {agent.model}")
    try:
        answer = llm.complete(model=agent.model, system=prompt, user=inputs.get("input"), timeout=ctx.remaining())
    except llm.LLMError as exc:
        raise SatelliteError(str(exc))
    ctx.log(f"{answer['provider']} answered {len(answer['content'])} chars")
    return answer
