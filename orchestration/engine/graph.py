"""The graph of a run: its steps, who depends on whom, and what each step's inputs use.

Versions are immutable and so is a run's context, so both are cached per process: a step of
a known run costs no query to set up.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from orchestration.models import ClusterVersion, Run
from orchestration.satellites import get_satellite
from orchestration.templating import TemplateError, references

EXECUTION_STEP_ID = "main"


@dataclass(frozen=True)
class Graph:
    steps: dict  # step id → normalised step spec
    dependents: dict  # step id → ids of steps that depend on it
    concurrency: dict | None
    wants: dict  # step id → ids of the steps whose outputs its inputs use


def _build_graph(spec: dict) -> Graph:
    steps = {s["id"]: s for s in spec["steps"] + spec.get("on_failure", [])}
    dependents: dict[str, list[str]] = {sid: [] for sid in steps}
    for step in steps.values():
        for dep in step["depends_on"]:
            dependents[dep].append(step["id"])
    wants = {
        sid: frozenset(
            ref.parts[0]
            for _, ref in references(step["inputs"])
            if not isinstance(ref, TemplateError) and ref.root == "steps"
        )
        for sid, step in steps.items()
    }
    return Graph(steps=steps, dependents=dependents, concurrency=spec.get("concurrency"), wants=wants)


@lru_cache(maxsize=256)
def version_graph(version_id: str) -> Graph:
    # Versions are immutable, so their graphs are cached per process.
    return _build_graph(ClusterVersion.objects.values_list("spec", flat=True).get(pk=version_id))


def execution_spec(*, satellite: str, inputs: dict, timeout_seconds: int) -> dict:
    return {
        "steps": [
            {
                "id": EXECUTION_STEP_ID,
                "satellite": satellite,
                "inputs": inputs,
                "depends_on": [],
                "retries": {
                    "max_attempts": 1,
                    "backoff": "fixed",
                    "delay_seconds": 0,
                    "max_delay_seconds": 0,
                    "jitter": 0,
                },
                "timeout_seconds": timeout_seconds,
                "join": "all_success",
                "handler": False,
            }
        ],
        "on_failure": [],
        "concurrency": None,
    }


def graph_for(run: Run) -> Graph:
    if run.kind == Run.Kind.EXECUTION:
        return _execution_graph(run.satellite, run.inputs, run.timeout_seconds)
    return version_graph(str(run.cluster_version_id))


def _execution_graph(satellite: str, inputs: dict, timeout_seconds: int | None) -> Graph:
    sat = get_satellite(satellite)
    timeout = timeout_seconds or (sat.default_timeout if sat else 300)
    return _build_graph(execution_spec(satellite=satellite, inputs=inputs, timeout_seconds=timeout))


@dataclass(frozen=True)
class RunContext:
    """What a worker needs of a run to execute its steps: the parts that never change."""

    pk: str
    tenant_id: str
    kind: str
    inputs: dict
    cluster_id: str | None
    version: int | None
    graph: Graph


@lru_cache(maxsize=256)
def run_context(run_pk: str) -> RunContext | None:
    # Immutable for the life of a run, so cached per worker process: a step of a known run
    # costs no query to set up.
    row = (
        Run.objects.filter(pk=run_pk)
        .values_list(
            "tenant_id", "kind", "inputs", "cluster_id", "version", "cluster_version_id", "satellite", "timeout_seconds"
        )
        .first()
    )
    if row is None:
        return None
    tenant_id, kind, inputs, cluster_id, version, version_id, satellite, timeout_seconds = row
    if kind == Run.Kind.EXECUTION:
        graph = _execution_graph(satellite, inputs, timeout_seconds)
    else:
        graph = version_graph(str(version_id))
    return RunContext(
        pk=str(run_pk),
        tenant_id=str(tenant_id),
        kind=kind,
        inputs=inputs,
        cluster_id=str(cluster_id) if cluster_id else None,
        version=version,
        graph=graph,
    )
