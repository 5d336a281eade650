"""Validating cluster definitions (loaded by `definition_yaml.py` under its caps).

Validation collects every problem at once, each with the line and column of the node it
concerns, and builds nothing until the whole document is valid.
"""

from __future__ import annotations

import re

from celery.schedules import crontab

from orchestration.definition_yaml import DefinitionInvalid, Problem, load
from orchestration.satellites import get_satellite, input_errors
from orchestration.satellites.expressions import compile_expression
from orchestration.templating import Reference, TemplateError, references

MAX_STEPS = 2_000
MAX_TIMEOUT_SECONDS = 3600  # must stay below the broker's visibility_timeout (2 h)
MAX_RETRIES = 10
DEFAULT_TIMEOUT_SECONDS = 300

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
STEP_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
INPUT_TYPES = {"string", "number", "integer", "boolean", "object", "array", "any"}
TOP_KEYS = {"name", "description", "schedule", "concurrency", "inputs", "steps", "on_failure"}
STEP_KEYS = {"id", "satellite", "inputs", "depends_on", "retries", "timeout_seconds", "join", "name", "description"}
RETRY_KEYS = {"count", "backoff", "delay_seconds", "max_delay_seconds", "jitter"}
BACKOFFS = ("fixed", "linear", "exponential")
JOINS = ("all_success", "all_done")


class _Collector:
    def __init__(self, marks: dict):
        self.marks = marks
        self.problems: list[Problem] = []

    def add(self, path: tuple, message: str, *, at_key: bool = False) -> None:
        probe = (*path, "__key__") if at_key else path
        line, column = self.marks.get(probe) or self._nearest(path)
        self.problems.append(Problem(line, column, _format_path(path), message))

    def _nearest(self, path: tuple) -> tuple[int, int]:
        while path:
            path = path[:-1]
            if path in self.marks:
                return self.marks[path]
        return self.marks.get((), (1, 1))


def _format_path(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _check_keys(c: _Collector, mapping: dict, allowed: set, path: tuple) -> None:
    for key in mapping:
        if key not in allowed:
            c.add((*path, key), f"unknown field {key!r}; allowed: {', '.join(sorted(allowed))}", at_key=True)


def _int(c: _Collector, value, path: tuple, *, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        c.add(path, f"must be an integer from {low} to {high}")
        return None
    return value


def _number(c: _Collector, value, path: tuple, *, low: float, high: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        c.add(path, f"must be a number from {low:g} to {high:g}")
        return None
    return float(value)


def _retries(c: _Collector, value, path: tuple) -> dict:
    policy = {
        "max_attempts": 1,
        "backoff": "exponential",
        "delay_seconds": 1.0,
        "max_delay_seconds": 60.0,
        "jitter": 0.0,
    }
    if value is None:
        return policy
    if isinstance(value, dict):
        _check_keys(c, value, RETRY_KEYS, path)
        count = _int(c, value.get("count", 0), (*path, "count"), low=0, high=MAX_RETRIES)
        backoff = value.get("backoff", "exponential")
        if backoff not in BACKOFFS:
            c.add((*path, "backoff"), f"must be one of {', '.join(BACKOFFS)}")
        delay = _number(c, value.get("delay_seconds", 1), (*path, "delay_seconds"), low=0, high=3600)
        max_delay = _number(c, value.get("max_delay_seconds", 300), (*path, "max_delay_seconds"), low=0, high=86400)
        jitter = value.get("jitter", False)
        if jitter is True:
            jitter = 0.5
        elif jitter is False:
            jitter = 0.0
        else:
            jitter = _number(c, jitter, (*path, "jitter"), low=0, high=1)
        policy.update(
            max_attempts=(count or 0) + 1,
            backoff=backoff if backoff in BACKOFFS else "exponential",
            delay_seconds=delay if delay is not None else 1.0,
            max_delay_seconds=max_delay if max_delay is not None else 300.0,
            jitter=jitter or 0.0,
        )
        return policy
    count = _int(c, value, path, low=0, high=MAX_RETRIES)
    policy["max_attempts"] = (count or 0) + 1
    return policy


def _concurrency(c: _Collector, value, path: tuple) -> dict | None:
    if value is None:
        return None
    if isinstance(value, dict):
        _check_keys(c, value, {"limit", "policy"}, path)
        limit = _int(c, value.get("limit"), (*path, "limit"), low=1, high=1000)
        policy = value.get("policy", "queue")
        if policy not in ("queue", "reject"):
            c.add((*path, "policy"), "must be 'queue' or 'reject'")
        return {"limit": limit or 1, "policy": policy if policy in ("queue", "reject") else "queue"}
    limit = _int(c, value, path, low=1, high=1000)
    return {"limit": limit or 1, "policy": "queue"}


def cron_fields(expression: str) -> list[str]:
    """The five fields of a cron expression; raises ValueError when it is not one."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError("a schedule is a cron expression with 5 fields: minute hour day month weekday")
    minute, hour, day, month, weekday = fields
    crontab(minute=minute, hour=hour, day_of_month=day, month_of_year=month, day_of_week=weekday)
    return fields


def _inputs_decl(c: _Collector, value, path: tuple) -> dict:
    declared: dict = {}
    if value is None:
        return declared
    if not isinstance(value, dict):
        c.add(path, "must be a mapping of input name to {type, required, default}")
        return declared
    for name, decl in value.items():
        where = (*path, name)
        if not isinstance(name, str) or not STEP_ID_RE.match(name):
            c.add(where, f"invalid input name {name!r}", at_key=True)
            continue
        if decl is None:
            decl = {}
        if isinstance(decl, str):
            decl = {"type": decl}
        if not isinstance(decl, dict):
            c.add(where, "must be a mapping like {type: string}")
            continue
        _check_keys(c, decl, {"type", "required", "default", "description"}, where)
        kind = decl.get("type", "any")
        if kind not in INPUT_TYPES:
            c.add((*where, "type"), f"must be one of {', '.join(sorted(INPUT_TYPES))}")
            kind = "any"
        required = decl.get("required", "default" not in decl)
        declared[name] = {"type": kind, "required": bool(required)}
        if "default" in decl:
            declared[name]["default"] = decl["default"]
    return declared


def _depends_on(c: _Collector, value, path: tuple) -> list[str]:
    depends = value or []
    if isinstance(depends, str):
        depends = [depends]
    if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
        c.add(path, "must be a list of step ids")
        return []
    return depends


def _steps(c: _Collector, value, path: tuple, *, handler: bool) -> list[dict]:
    steps: list[dict] = []
    if value is None and handler:
        return steps
    if not isinstance(value, list) or (not value and not handler):
        c.add(path, "must be a non-empty list of steps")
        return steps
    for index, raw in enumerate(value):
        where = (*path, index)
        if not isinstance(raw, dict):
            c.add(where, "a step must be a mapping with at least id and satellite")
            continue
        _check_keys(c, raw, STEP_KEYS, where)
        step_id = raw.get("id")
        if not isinstance(step_id, str) or not STEP_ID_RE.match(step_id):
            c.add((*where, "id"), "each step needs an id: letters, digits, _ and -, starting with a letter")
            step_id = f"#{index}"
        sat_name = raw.get("satellite")
        sat = get_satellite(sat_name) if isinstance(sat_name, str) else None
        if sat is None:
            c.add((*where, "satellite"), f"unknown satellite {sat_name!r}")
        inputs = raw.get("inputs") or {}
        if not isinstance(inputs, dict):
            c.add((*where, "inputs"), "must be a mapping")
            inputs = {}
        depends = _depends_on(c, raw.get("depends_on"), (*where, "depends_on"))
        timeout = raw.get("timeout_seconds")
        if timeout is not None:
            timeout = _int(c, timeout, (*where, "timeout_seconds"), low=1, high=MAX_TIMEOUT_SECONDS)
        join = raw.get("join", "all_success")
        if join not in JOINS:
            c.add((*where, "join"), f"must be one of {', '.join(JOINS)}")
            join = "all_success"
        steps.append(
            {
                "id": step_id,
                "satellite": sat_name if isinstance(sat_name, str) else "",
                "inputs": inputs,
                "depends_on": list(dict.fromkeys(depends)),
                "retries": _retries(c, raw.get("retries"), (*where, "retries")),
                "timeout_seconds": timeout or (sat.default_timeout if sat else DEFAULT_TIMEOUT_SECONDS),
                "join": join,
                "handler": handler,
                "_path": where,
                "_known": sat is not None,
            }
        )
    return steps


def _check_graph(c: _Collector, steps: list[dict], handlers: list[dict]) -> dict[str, set]:
    """Unknown/self dependencies and cycles; returns each step's transitive upstream set."""
    by_id: dict[str, dict] = {}
    for step in steps + handlers:
        if step["id"] in by_id and not step["id"].startswith("#"):
            c.add((*step["_path"], "id"), f"duplicate step id {step['id']!r}")
        by_id.setdefault(step["id"], step)
    for group in (steps, handlers):
        ids = {s["id"] for s in group}
        for step in group:
            for position, dep in enumerate(step["depends_on"]):
                where = (*step["_path"], "depends_on", position)
                if dep == step["id"]:
                    c.add(where, f"step {dep!r} depends on itself")
                elif dep not in ids:
                    scope = "on_failure step" if step["handler"] else "step"
                    c.add(where, f"unknown dependency {dep!r}: no such {scope}")
            step["depends_on"] = [d for d in step["depends_on"] if d in ids and d != step["id"]]
    upstream: dict[str, set] = {}
    for group in (steps, handlers):
        _walk_upstream(c, {s["id"]: s for s in group}, upstream)
    return upstream


def _walk_upstream(c: _Collector, index: dict, upstream: dict) -> None:
    """Depth-first: fill each step's transitive upstream set and report each cycle once."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    reported: set = set()

    def visit(sid: str, trail: list[str]) -> set:
        if state.get(sid) == 2:
            return upstream[sid]
        if state.get(sid) == 1:
            cycle = trail[trail.index(sid) :] + [sid]
            if frozenset(cycle) not in reported:
                reported.add(frozenset(cycle))
                c.add((*index[sid]["_path"], "depends_on"), "dependency cycle: " + " → ".join(cycle))
            return set()
        state[sid] = 1
        found: set = set()
        for dep in index[sid]["depends_on"]:
            found |= {dep} | visit(dep, [*trail, sid])
        state[sid] = 2
        upstream[sid] = found
        return found

    for sid in index:
        visit(sid, [])


SECRETS_REFUSED = (
    "secrets cannot be used by {satellite}: it computes its output from its inputs, so a transformed "
    "secret could appear where masking cannot recognise it"
)


def _check_templates(c: _Collector, step: dict, declared: dict, step_ids: set, upstream: set) -> None:
    for key, value in step["inputs"].items():
        _check_value_templates(c, step, (*step["_path"], "inputs", key), value, declared, step_ids, upstream)


def _check_value_templates(
    c: _Collector, step: dict, where: tuple, value, declared: dict, step_ids: set, upstream: set
):
    for text, ref in references(value):
        if isinstance(ref, TemplateError):
            c.add(where, f"bad template {text!r}: {ref}")
            continue
        assert isinstance(ref, Reference)
        if ref.root == "inputs" and ref.parts[0] not in declared:
            c.add(where, f"unknown input {ref.parts[0]!r} in {text!r}; declare it under inputs")
        elif ref.root == "steps":
            target = ref.parts[0]
            if target not in step_ids:
                c.add(where, f"unknown step {target!r} in {text!r}")
            elif not step["handler"] and target not in upstream:
                c.add(where, f"{text!r} uses step {target!r}, which is not upstream; add it to depends_on")
        elif ref.root == "secrets" and not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", ref.parts[0]):
            c.add(where, f"invalid secret name in {text!r}")
        elif ref.root == "secrets" and (sat := get_satellite(step["satellite"])) and not sat.takes_secrets:
            c.add(where, f"{text!r}: {SECRETS_REFUSED.format(satellite=step['satellite'])}")


def _check_literal_inputs(c: _Collector, step: dict) -> None:
    """Validate what can be known before a run: literal values and required fields."""
    sat = get_satellite(step["satellite"])
    if sat is None:
        return
    # Templated values are unknown until run time: stand in with a value that passes any type
    # check by leaving them out, but keep them counted as present for `required`.
    literal = {k: v for k, v in step["inputs"].items() if not any(True for _ in references(v))}
    templated = set(step["inputs"]) - set(literal)
    for field, messages in input_errors(sat, literal).items():
        name = field.split(".", 1)[1].split(".")[0].split("[")[0] if "." in field else ""
        if name in templated:
            continue
        for message in messages:
            path = (*step["_path"], "inputs", name) if name in step["inputs"] else (*step["_path"], "inputs")
            c.add(path, f"{step['satellite']}: {field}: {message}")
    if step["satellite"] == "json.transform" and isinstance(literal.get("expression"), str):
        try:
            compile_expression(literal["expression"])
        except ValueError as exc:
            c.add((*step["_path"], "inputs", "expression"), f"invalid JMESPath expression: {exc}")


def _schedule(c: _Collector, value, path: tuple) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        c.add(path, "must be a cron expression string")
        return None
    try:
        cron_fields(value)
    except (ValueError, TypeError) as exc:
        c.add(path, f"invalid cron expression: {exc}")
    return value


def parse_definition(text: str) -> dict:
    """Validate a definition; returns the normalised spec or raises DefinitionInvalid/TooLarge."""
    data, marks = load(text)
    c = _Collector(marks)
    if not isinstance(data, dict):
        raise DefinitionInvalid([Problem(1, 1, "", "the definition must be a mapping with name and steps")])
    _check_keys(c, data, TOP_KEYS, ())
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        c.add(("name",), "name is required: letters, digits, '.', '_' and '-' (max 100)")
    description = data.get("description", "")
    if not isinstance(description, str):
        c.add(("description",), "must be a string")
        description = ""
    schedule = _schedule(c, data.get("schedule"), ("schedule",))
    declared = _inputs_decl(c, data.get("inputs"), ("inputs",))
    steps = _steps(c, data.get("steps"), ("steps",), handler=False)
    handlers = _steps(c, data.get("on_failure"), ("on_failure",), handler=True)
    if len(steps) + len(handlers) > MAX_STEPS:
        c.add(("steps",), f"at most {MAX_STEPS} steps")
    upstream = _check_graph(c, steps, handlers)
    step_ids = {s["id"] for s in steps}
    for step in steps + handlers:
        _check_templates(c, step, declared, step_ids, upstream.get(step["id"], set()))
        _check_literal_inputs(c, step)
    concurrency = _concurrency(c, data.get("concurrency"), ("concurrency",))
    if c.problems:
        raise DefinitionInvalid(c.problems)
    for step in steps + handlers:
        step.pop("_path")
        step.pop("_known")
    return {
        "name": name,
        "description": description,
        "schedule": schedule or "",
        "concurrency": concurrency,
        "inputs": declared,
        "steps": steps,
        "on_failure": handlers,
    }


def check_run_inputs(declared: dict, given) -> tuple[dict, dict[str, list[str]]]:
    """Apply defaults and check types of trigger inputs; returns (inputs, field errors)."""
    errors: dict[str, list[str]] = {}
    if given is None:
        given = {}
    if not isinstance(given, dict):
        return {}, {"inputs": ["must be an object"]}
    values: dict = {}
    for name in given:
        if name not in declared:
            errors.setdefault(f"inputs.{name}", []).append("unknown input; the cluster does not declare it")
    checks = {
        "string": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "any": lambda v: True,
    }
    for name, decl in declared.items():
        if name in given:
            value = given[name]
            if not checks[decl["type"]](value):
                errors.setdefault(f"inputs.{name}", []).append(f"must be of type {decl['type']}")
            values[name] = value
        elif "default" in decl:
            values[name] = decl["default"]
        elif decl["required"]:
            errors.setdefault(f"inputs.{name}", []).append("this input is required")
    return values, errors
