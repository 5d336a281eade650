"""The LLM client behind `agent.run`.

With `LLM_BASE_URL` set it speaks the OpenAI-compatible chat-completions API
(`POST {base}/chat/completions`) through the outbound guard. Without it a deterministic local
provider answers, so agents and tasks work offline and in tests.
"""

from __future__ import annotations

import hashlib
import json
import re

from django.conf import settings

from core import outbound
from orchestration.budget import Budget

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
MAX_RESPONSE_BYTES = 2_000_000
MAX_PROMPT_CHARS = 1024 * 1024  # a rendered prompt; far above what a model's context holds


class LLMError(Exception):
    pass


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def render_prompt(template: str, *, input, title: str = "", description: str = "") -> str:
    """Replace `{{ name }}` placeholders: input, title, description, and the input's own keys.

    Plain substitution (no attribute access, no expressions): a prompt is data, not code.
    Unknown placeholders are left as written.
    """
    values = {"input": _as_text(input), "title": title, "description": description}
    if isinstance(input, dict):
        values.update({k: _as_text(v) for k, v in input.items() if isinstance(k, str)})
    # Counted as it is built: a prompt naming a large input thousands of times stops at the
    # limit instead of allocating gigabytes first.
    budget = Budget(MAX_PROMPT_CHARS, "the rendered prompt", "characters")
    budget.charge(len(template))

    def substitute(match: re.Match) -> str:
        text = values.get(match.group(1), match.group(0))
        budget.charge(len(text))
        return text

    return PLACEHOLDER.sub(substitute, template)


def complete(*, model: str, system: str, user, timeout: float | None = None) -> dict:
    """Ask the model; returns `{content, model, provider, usage}`."""
    if settings.LLM_BASE_URL:
        return _chat_completions(model=model, system=system, user=user, timeout=timeout)
    return _local(model=model, system=system, user=user)


def _local(*, model: str, system: str, user) -> dict:
    """Deterministic answer: the rendered prompt and a summary of the input."""
    text = _as_text(user)
    if isinstance(user, dict):
        shape = f"an object with keys {', '.join(sorted(map(str, user))) or '(none)'}"
    elif isinstance(user, list):
        shape = f"a list of {len(user)} items"
    else:
        shape = f"text of {len(text)} characters"
    digest = hashlib.sha256(f"{model}\n{system}\n{text}".encode()).hexdigest()[:12]
    content = f"{system.strip()}\n\nInput summary: {shape}. (local provider, digest {digest})"
    return {
        "content": content,
        "model": model,
        "provider": "local",
        "usage": {"prompt_tokens": len(system.split()) + len(text.split()), "completion_tokens": len(content.split())},
    }


def _chat_completions(*, model: str, system: str, user, timeout: float | None) -> dict:
    url = settings.LLM_BASE_URL.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if settings.LLM_API_KEY:
        headers["Authorization"] = f"Bearer {settings.LLM_API_KEY}"
    payload = {
        "model": model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": _as_text(user)}],
    }
    limit = float(settings.LLM_TIMEOUT_SECONDS)
    timeout = min(limit, timeout) if timeout else limit
    try:
        response = outbound.request_sync(
            "POST",
            url,
            headers=headers,
            content=json.dumps(payload).encode(),
            timeout=max(timeout, 0.1),
            max_bytes=MAX_RESPONSE_BYTES,
        )
    except (outbound.OutboundBlocked, outbound.OutboundError) as exc:
        raise LLMError(f"LLM endpoint unreachable: {exc}")
    if response.status >= 400:
        raise LLMError(f"LLM endpoint answered HTTP {response.status}")
    try:
        data = json.loads(response.body)
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise LLMError("LLM endpoint answered something that is not a chat completion")
    if not isinstance(content, str):
        raise LLMError("LLM endpoint answered a non-text completion")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return {
        "content": content,
        "model": str(data.get("model") or model),
        "provider": "openai-compatible",
        "usage": usage,
    }
