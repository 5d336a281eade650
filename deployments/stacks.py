"""A project's services as stacks on its host: logs, status and restart (SPEC §4).

Reads (logs, status) and the one write (restart, audited) of the remote side, called alike by
the API views and the admin. Every command is an argv list run through `deployments.remote` in
the project's `directory`; names come from the project's validated configuration, never from
the request beyond choosing one of them.

- Logs: a service's `log_file` (resolved on the host with `realpath -e`, refused outside
  `directory`) through `tail`, else `docker compose logs --no-log-prefix <service>`.
- Status: `docker compose ps --all --format json` (state and container health per service),
  plus an HTTP check of each `healthcheck_url` through the outbound guard.
- Restart: the service's `restart` argv, default `docker compose restart <service>`.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Generator
from dataclasses import dataclass

from django.conf import settings

from core import outbound
from core.audit import audit_record
from deployments import remote, services
from deployments.models import Project

OUTPUT_BYTES = 64 * 1024  # a restart's or a status query's output kept
HEALTH_TIMEOUT_SECONDS = 5.0


class UnknownService(Exception):
    """The request names a service the project does not have (or names none where it must)."""


@dataclass(frozen=True)
class Source:
    """Where a service's log comes from: a file on the host, or the compose logs."""

    service: str
    path: str | None  # the real path of the service's log_file, or None for `docker compose logs`

    @property
    def label(self) -> str:
        return "log_file" if self.path else "docker compose logs"


def service_get(project: Project, name: str | None) -> dict:
    """The project's service `name`; with no name, its only service."""
    configured = project.services or []
    if not name:
        if len(configured) == 1:
            return configured[0]
        raise UnknownService("Name the service (the project has several)." if configured
                             else "The project has no services.")
    for service in configured:
        if service["name"] == name:
            return service
    raise UnknownService(f"The project has no service {name!r}.")


def _target(project: Project) -> remote.SSHTarget:
    return services.host_target(host=project.host)


def _run(project: Project, target: remote.SSHTarget, argv: list[str], *, timeout: float | None = None,
         max_output_bytes: int = OUTPUT_BYTES) -> remote.RemoteResult:
    result = remote.run(target, argv, cwd=project.directory,
                        timeout=timeout or settings.DEPLOYMENTS_COMMAND_TIMEOUT_SECONDS,
                        max_output_bytes=max_output_bytes)
    services.host_pin_first_key(target=target, host_name=project.host.name, tenant_id=project.tenant_id,
                                seen=result.host_key)
    return result


def log_source(project: Project, service: dict, target: remote.SSHTarget) -> Source:
    if not service.get("log_file"):
        return Source(service["name"], None)
    path = remote.resolve_inside(target, project.directory, service["log_file"],
                                 timeout=settings.DEPLOYMENTS_COMMAND_TIMEOUT_SECONDS)
    return Source(service["name"], path)


def _compose_logs(service: str, lines: int, *, follow: bool) -> list[str]:
    return ["docker", "compose", "logs", "--no-color", "--no-log-prefix", *(["--follow"] if follow else []),
            "--tail", str(lines), service]


def log_tail(*, project: Project, service_name: str | None, lines: int) -> dict:
    """The last `lines` lines of a service's log (at most DEPLOYMENTS_LOG_MAX_BYTES of them)."""
    service = service_get(project, service_name)
    target = _target(project)
    source = log_source(project, service, target)
    argv = ["tail", "-n", str(lines), "--", source.path] if source.path else _compose_logs(
        source.service, lines, follow=False)
    result = _run(project, target, argv, max_output_bytes=settings.DEPLOYMENTS_LOG_MAX_BYTES)
    if result.exit_status != 0:
        raise remote.RemoteError(f"{argv[0]} exited with status {result.exit_status}: {result.stderr.strip()[-500:]}")
    text = result.stdout
    if result.truncated:  # the first line kept is a fragment
        text = text.partition("\n")[2]
    return {"project": project.name, "service": source.service, "source": source.label,
            "lines": text.splitlines(), "truncated": result.truncated}


def log_follow(*, project: Project, service_name: str | None, lines: int):
    """A function of a stop event that opens the follow (deployments.streaming runs it): checks
    and path resolution happen now, so a bad request fails before any stream starts."""
    service = service_get(project, service_name)
    target = _target(project)
    source = log_source(project, service, target)
    bounds = {"max_lines": settings.DEPLOYMENTS_LOG_MAX_LINES, "max_bytes": settings.DEPLOYMENTS_LOG_MAX_BYTES,
              "max_seconds": settings.DEPLOYMENTS_LOG_MAX_SECONDS,
              "idle_seconds": settings.DEPLOYMENTS_LOG_IDLE_SECONDS}

    def make(stop: threading.Event) -> Generator[str, None, str]:
        if source.path:
            return remote.follow(target, source.path, lines=lines, stop=stop, **bounds)
        return remote.follow_command(target, _compose_logs(source.service, lines, follow=True),
                                     cwd=project.directory, stop=stop, **bounds)

    return make


def _containers(output: str) -> dict[str, dict]:
    """`docker compose ps --format json`: one object per line (Compose ≥ 2.21) or one array."""
    text = output.strip()
    try:
        rows = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line]
    except ValueError:
        return {}
    found: dict[str, dict] = {}
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and isinstance(row.get("Service"), str):
            found.setdefault(row["Service"], row)
    return found


def _health(url: str) -> dict:
    try:
        response = outbound.request_sync("GET", url, timeout=HEALTH_TIMEOUT_SECONDS, max_bytes=4096)
    except (outbound.OutboundBlocked, outbound.OutboundError) as exc:
        return {"url": url, "ok": False, "status_code": None, "error": str(exc)}
    return {"url": url, "ok": 200 <= response.status < 400, "status_code": response.status, "error": ""}


def stack_status(*, project: Project) -> dict:
    """State per service; a host that cannot be reached is reported, not raised."""
    report = {"project": project.name, "host": project.host.name, "reachable": True, "error": "", "services": []}
    try:
        result = _run(project, _target(project), ["docker", "compose", "ps", "--all", "--format", "json"])
    except remote.RemoteError as exc:
        report.update(reachable=False, error=str(exc))
        containers = None
    else:
        containers = _containers(result.stdout) if result.exit_status == 0 else None
        if result.exit_status != 0:
            report["error"] = (f"docker compose ps exited with status {result.exit_status}: "
                               f"{result.stderr.strip()[-500:]}")
    for service in project.services or []:
        row = (containers or {}).get(service["name"])
        entry = {
            "name": service["name"],
            "state": "unknown" if containers is None else (row.get("State") or "unknown") if row else "absent",
            "status": (row or {}).get("Status", ""),
            "container_health": (row or {}).get("Health") or None,
            "healthcheck": _health(service["healthcheck_url"]) if service.get("healthcheck_url") else None,
        }
        report["services"].append(entry)
    return report


def stack_restart(*, project: Project, service_name: str | None, actor=None) -> dict:
    """Restart one service (or all, in order); audited with who, what and the config hash."""
    chosen = [service_get(project, service_name)] if service_name else list(project.services or [])
    if not chosen:
        raise UnknownService("The project has no services.")
    target = _target(project)
    results, error = [], ""
    try:
        for service in chosen:
            argv = service.get("restart") or ["docker", "compose", "restart", service["name"]]
            result = _run(project, target, argv)
            results.append({"service": service["name"], "ok": result.exit_status == 0,
                            "exit_status": result.exit_status, "stdout": result.stdout, "stderr": result.stderr,
                            "duration_ms": result.duration_ms})
    except remote.RemoteError as exc:
        error = str(exc)
        raise
    finally:
        audit_record(action="stack.restart", target=project, actor=actor, tenant=project.tenant, changes={
            "services": [service["name"] for service in chosen], "config_hash": project.config_hash,
            "exit_status": {item["service"]: item["exit_status"] for item in results}, "error": error})
    return {"project": project.name, "results": results}
