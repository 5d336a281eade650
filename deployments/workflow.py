"""A project's deploy as an orchestration cluster, and its configuration hash.

The generated cluster is ordinary orchestration: `git.sync` and `ssh.exec` steps (and an
`http.request` per service health check, through the outbound guard), chained in order, at
most one run at a time (`concurrency: 1`, queued). Retries, step timeouts, cancel, step logs and
SSE come from the engine. Its definition is JSON (a YAML subset), written from validated
fields only; a project never hands the engine a template (`validation` refuses `${{`).
"""
from __future__ import annotations

import hashlib
import json

from django.conf import settings

COMPOSE_UP = ["docker", "compose", "up", "-d", "--remove-orphans"]
HEALTH_RETRIES = 5
HEALTH_DELAY_SECONDS = 3
MAX_STEP_SECONDS = 3600  # the engine's ceiling for one step
MAX_STEP_ID = 64  # the engine's longest step id


def cluster_name(project) -> str:
    return f"deployments.{project.name}"


def desired_config(project) -> dict:
    """Everything a deploy depends on; `enabled` and the timeout are not part of it."""
    host = project.host
    return {
        "host": {"name": host.name, "address": host.address, "port": host.port, "username": host.username,
                 "host_key": host.host_key},
        "directory": project.directory,
        "repository": project.repository,
        "branch": project.branch,
        "services": project.services,
        "deploy_steps": project.deploy_steps,
    }


def config_hash(project) -> str:
    canonical = json.dumps(desired_config(project), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _step_seconds(project) -> int:
    return max(10, min(project.timeout_seconds, MAX_STEP_SECONDS))


def steps(project) -> list[dict]:
    """The deploy's steps, each depending on the one before."""
    seconds = _step_seconds(project)
    remote = {"host": project.host.name}
    out: list[dict] = []
    if project.deploy_steps is not None:
        for index, argv in enumerate(project.deploy_steps, start=1):
            out.append({"id": f"step_{index}", "satellite": "ssh.exec", "timeout_seconds": seconds,
                        "inputs": {**remote, "argv": argv, "cwd": project.directory, "timeout_seconds": seconds - 5}})
    else:
        if project.repository:
            sync = {**remote, "directory": project.directory, "repository": project.repository,
                    "timeout_seconds": seconds - 5}
            if project.branch:
                sync["branch"] = project.branch
            out.append({"id": "sync", "satellite": "git.sync", "timeout_seconds": seconds, "inputs": sync})
        out.append({"id": "compose_up", "satellite": "ssh.exec", "timeout_seconds": seconds,
                    "inputs": {**remote, "argv": COMPOSE_UP, "cwd": project.directory,
                               "timeout_seconds": seconds - 5}})
    for index, service in enumerate(project.services):
        if service.get("healthcheck_url"):
            step_id = f"health_{service['name']}"
            if len(step_id) > MAX_STEP_ID:  # a long name: by position ("health-" cannot clash with "health_")
                step_id = f"health-{index}"
            out.append({
                "id": step_id,
                "satellite": "http.request",
                "inputs": {"method": "GET", "url": service["healthcheck_url"], "timeout_seconds": 10},
                "retries": {"count": HEALTH_RETRIES, "backoff": "fixed", "delay_seconds": HEALTH_DELAY_SECONDS},
                "timeout_seconds": 30,
            })
    for before, step in zip(out, out[1:], strict=False):
        step["depends_on"] = [before["id"]]
    return out


def definition(project) -> str:
    spec = {
        "name": cluster_name(project),
        "description": f"Deploy of project {project.name} (generated from the project: change the project, "
                       "not this cluster).",
        "concurrency": {"limit": 1, "policy": "queue"},
        "steps": steps(project),
    }
    return json.dumps(spec, indent=1)


def default_timeout_seconds() -> int:
    return settings.DEPLOYMENTS_DEFAULT_TIMEOUT_SECONDS
