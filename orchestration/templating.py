"""`${{ … }}` templates in step inputs: `inputs.x`, `steps.s.outputs.y`, `secrets.NAME`, `run.id`.

A string that is exactly one template takes the referenced value with its type (an object
stays an object); templates inside longer strings are interpolated as text (JSON for
non-strings). Paths are plain lookups — no expressions, no code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from orchestration.budget import Budget, json_size

TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.S)
WHOLE = re.compile(r"^\s*\$\{\{(.*?)\}\}\s*$", re.S)
PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\])*$")
PART = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]")
ROOTS = ("inputs", "steps", "secrets", "run")
RUN_FIELDS = ("id", "cluster", "version")
# A step's inputs once templates are resolved, as JSON; the largest run input is a 1 MiB body.
MAX_RENDERED_BYTES = 2 * 1024 * 1024


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class Reference:
    root: str
    parts: tuple  # str keys and int indexes after the root

    @property
    def text(self) -> str:
        out = self.root
        for part in self.parts:
            out += f"[{part}]" if isinstance(part, int) else f".{part}"
        return out


def parse_reference(expression: str) -> Reference:
    """Parse and check the shape of one `${{ … }}` body; raises TemplateError."""
    expression = expression.strip()
    if not expression:
        raise TemplateError("empty template ${{ }}")
    if not PATH.match(expression):
        raise TemplateError(f"invalid template expression {expression!r}: use a dotted path like inputs.name")
    parts = tuple(m.group(1) if m.group(1) is not None else int(m.group(2)) for m in PART.finditer(expression))
    root, rest = parts[0], parts[1:]
    if root not in ROOTS:
        raise TemplateError(f"unknown template root {root!r}; use one of {', '.join(ROOTS)}")
    if root == "inputs" and (not rest or not isinstance(rest[0], str)):
        raise TemplateError("use ${{ inputs.<name> }}")
    if root == "secrets" and (len(rest) != 1 or not isinstance(rest[0], str)):
        raise TemplateError("use ${{ secrets.<NAME> }}")
    if root == "steps" and (len(rest) < 2 or not isinstance(rest[0], str) or rest[1] != "outputs"):
        raise TemplateError("use ${{ steps.<id>.outputs[.<field>] }}")
    if root == "run" and (len(rest) != 1 or rest[0] not in RUN_FIELDS):
        raise TemplateError(f"use ${{{{ run.<{'|'.join(RUN_FIELDS)}> }}}}")
    return Reference(root, rest)


def references(value) -> Iterator[tuple[str, Reference | TemplateError]]:
    """Every template in a value (recursively), parsed, or the error for a malformed one."""
    if isinstance(value, str):
        if "${{" not in value:
            return
        end = 0
        for match in TEMPLATE.finditer(value):
            end = match.end()
            try:
                yield match.group(0), parse_reference(match.group(1))
            except TemplateError as exc:
                yield match.group(0), exc
        if "${{" in value[end:]:
            yield value, TemplateError("unterminated template: '${{' without '}}'")
    elif isinstance(value, dict):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def lookup(ref: Reference, context: dict, secret: Callable[[str], str]):
    if ref.root == "secrets":
        return secret(ref.parts[0])
    current = context.get(ref.root)
    walked = ref.root
    for part in ref.parts:
        if isinstance(part, int):
            if not isinstance(current, list) or part >= len(current):
                raise TemplateError(f"{ref.text}: {walked} has no item [{part}]")
            current = current[part]
            walked += f"[{part}]"
        else:
            if not isinstance(current, dict) or part not in current:
                raise TemplateError(f"{ref.text}: {walked} has no field {part!r}")
            current = current[part]
            walked += f".{part}"
    return current


def render(value, context: dict, secret: Callable[[str], str], budget: Budget | None = None):
    """Resolve every template in `value` against `context` (`inputs`, `steps`, `run`).

    `budget` (default: MAX_RENDERED_BYTES) is charged with the JSON size of what is produced,
    as it is produced: a string naming a large value thousands of times stops at the limit
    (BudgetExceeded) instead of building it first."""
    if budget is None:
        budget = Budget(MAX_RENDERED_BYTES, "the step's inputs after templating")
    if isinstance(value, str):
        if "${{" not in value:
            budget.charge(len(value) + 2)
            return value
        whole = WHOLE.match(value)
        if whole and value.count("${{") == 1:
            resolved = lookup(parse_reference(whole.group(1)), context, secret)
            json_size(resolved, budget)
            return resolved

        def substitute(match: re.Match) -> str:
            resolved = lookup(parse_reference(match.group(1)), context, secret)
            if isinstance(resolved, str):
                budget.charge(len(resolved))
                return resolved
            json_size(resolved, budget)
            return json.dumps(resolved)

        budget.charge(len(value))
        return TEMPLATE.sub(substitute, value)
    if isinstance(value, dict):
        budget.charge(2 + sum(len(k) + 3 for k in value))
        return {k: render(v, context, secret, budget) for k, v in value.items()}
    if isinstance(value, list):
        budget.charge(2 + len(value))
        return [render(v, context, secret, budget) for v in value]
    json_size(value, budget)
    return value
