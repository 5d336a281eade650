"""Satellites: the registry and the built-ins (imported here so they register)."""

from orchestration.satellites import builtin  # noqa: F401  (registers the built-ins)
from orchestration.satellites.registry import (
    REGISTRY,
    Satellite,
    SatelliteError,
    StepCancelled,
    StepContext,
    StepTimedOut,
    all_satellites,
    get_satellite,
    input_errors,
    satellite,
)

__all__ = [
    "REGISTRY",
    "Satellite",
    "SatelliteError",
    "StepCancelled",
    "StepContext",
    "StepTimedOut",
    "all_satellites",
    "get_satellite",
    "input_errors",
    "satellite",
]
