"""The satellite registry: built-ins declared in code with `@satellite(...)`.

A satellite is a named, stateless unit of work with a JSON Schema for its inputs and outputs.
Inputs are validated before anything is queued; the implementation receives the validated
inputs and a `StepContext` for logging and cooperative cancel/timeout checks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from jsonschema import Draft202012Validator


class SatelliteError(Exception):
    """The satellite failed; the message is what the step's `error` shows. Retryable, unless a
    subclass knows another attempt cannot help (`retryable = False`)."""

    retryable = True


class StepCancelled(Exception):
    """The run was cancelled while the step ran."""


class StepTimedOut(Exception):
    """The step ran past its `timeout_seconds`."""


@dataclass
class StepContext:
    """What a running satellite may know and do: log, check for cancel/timeout, sleep."""

    tenant_id: str
    run_id: str
    step_id: str
    attempt: int
    deadline: float  # time.monotonic() value
    log_sink: Callable[[str, str], None] = lambda level, message: None
    cancel_probe: Callable[[], bool] = lambda: False
    check_interval: float = 0.25
    # Plaintexts of the tenant secrets rendered into this step's inputs: a satellite keeps them
    # from places they must not reach (e.g. http.request drops such headers on cross-origin redirects).
    secret_values: list[str] = field(default_factory=list, repr=False)
    _last_probe: float = field(default=0.0, repr=False)

    def log(self, message: str, level: str = "info") -> None:
        self.log_sink(level, message)

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def check(self, *, force: bool = False) -> None:
        """Raise if the step was cancelled or ran out of time. Probes the database at most
        every `check_interval` seconds so tight loops stay cheap."""
        now = time.monotonic()
        if now >= self.deadline:
            raise StepTimedOut()
        if force or now - self._last_probe >= self.check_interval:
            self._last_probe = now
            if self.cancel_probe():
                raise StepCancelled()

    def sleep(self, seconds: float) -> None:
        """Sleep in short slices so a cancel or timeout ends the step within a fraction of a second."""
        end = time.monotonic() + seconds
        while True:
            self.check()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(self.check_interval, left, max(self.remaining(), 0.01)))


@dataclass(frozen=True)
class Satellite:
    name: str
    description: str
    input_schema: dict
    output_schema: dict
    func: Callable[[dict, StepContext], dict]
    default_timeout: int = 300
    # Pure satellites have no side effects outside their output, so a redelivered message may
    # run them twice harmlessly: the engine skips their durable claim and records the first
    # result only (see orchestration.engine.worker).
    pure: bool = False
    # Whether `${{ secrets.* }}` may reach its inputs: not for a satellite that computes its
    # output from its inputs (json.transform's `reverse(@)`, an agent's answer), which would
    # publish a secret in a form masking cannot recognise. Verbatim copies are masked.
    takes_secrets: bool = True

    @cached_property
    def validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.input_schema)


REGISTRY: dict[str, Satellite] = {}


def satellite(
    name: str,
    *,
    description: str,
    inputs: dict,
    outputs: dict,
    default_timeout: int = 300,
    pure: bool = False,
    takes_secrets: bool = True,
):
    """Register the decorated function `(inputs, ctx) -> dict` as a satellite. Declare it
    `pure` only when running it twice is harmless (no I/O, no side effects)."""
    Draft202012Validator.check_schema(inputs)
    Draft202012Validator.check_schema(outputs)

    def register(func):
        if name in REGISTRY:
            raise ValueError(f"satellite {name!r} is registered twice")
        REGISTRY[name] = Satellite(name, description, inputs, outputs, func, default_timeout, pure, takes_secrets)
        return func

    return register


def get_satellite(name: str) -> Satellite | None:
    return REGISTRY.get(name)


def all_satellites() -> list[Satellite]:
    return sorted(REGISTRY.values(), key=lambda s: s.name)


def _path(prefix: str, parts) -> str:
    out = prefix
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def input_errors(sat: Satellite, inputs, *, prefix: str = "inputs") -> dict[str, list[str]]:
    """Field-keyed schema violations of `inputs` (empty when valid)."""
    errors: dict[str, list[str]] = {}
    for error in sorted(sat.validator.iter_errors(inputs), key=lambda e: list(e.absolute_path)):
        parts = list(error.absolute_path)
        if error.validator == "required":
            # Point at the missing field itself, not at its parent.
            missing = error.message.split("'")[1] if "'" in error.message else ""
            parts.append(missing)
        errors.setdefault(_path(prefix, parts), []).append(error.message)
    return errors
