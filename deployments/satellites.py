"""Satellites any cluster may use to act on a tenant's deploy hosts: `ssh.exec` runs one argv,
`git.sync` clones or pulls a branch. Registered in orchestration's registry when this app loads.

The host is named by its `name` in the step's tenant; the tenant's deploy key authenticates and
the host's pinned key is checked before anything is sent (a mismatch fails the step without
retry and says so). Health checks are `http.request` steps (orchestration's, through the
outbound guard).
"""
from __future__ import annotations

from deployments import remote, selectors, services
from deployments.validation import BRANCH_RE, DNS_LABEL_RE, MAX_ARG_CHARS, MAX_ARGS, REPOSITORY_RE
from orchestration.satellites import SatelliteError, StepContext, StepTimedOut, satellite

MAX_OUTPUT_BYTES = 64 * 1024
HOST = {"type": "string", "pattern": DNS_LABEL_RE.pattern, "description": "The host's name in this tenant."}
ARG = {"type": "string", "maxLength": MAX_ARG_CHARS, "pattern": r"^[^\x00]*$"}
ABSOLUTE = {"type": "string", "pattern": r"^/[^\x00\n\r]*$", "maxLength": 1024}
TIMEOUT = {"type": "number", "exclusiveMinimum": 0, "maximum": 3600}


class HostKeyRefused(SatelliteError):
    """Not worth a retry: the same host will present the same wrong key."""

    retryable = False


def _target(ctx: StepContext, name: str) -> remote.SSHTarget:
    host = selectors.host_get(tenant_id=ctx.tenant_id, name=name)
    if host is None:
        raise SatelliteError(f"no host named {name!r} in this tenant")
    try:
        return services.host_target(host=host)
    except services.DeployKeyUnreadable as exc:
        raise SatelliteError(str(exc)) from exc


def _run(ctx: StepContext, target: remote.SSHTarget, host_name: str, argv: list[str], *, cwd: str | None,
         timeout: float, max_output_bytes: int = MAX_OUTPUT_BYTES) -> remote.RemoteResult:
    ctx.check(force=True)
    timeout = max(1.0, min(timeout, ctx.remaining() - 3))
    try:
        result = remote.run(target, argv, cwd=cwd, timeout=timeout, max_output_bytes=max_output_bytes)
    except remote.RemoteTimeout as exc:  # the step's own limit: a timeout, as the engine reports them
        ctx.log(f"{host_name}: {exc}", "error")
        raise StepTimedOut() from exc
    except remote.HostKeyMismatch as exc:
        ctx.log(f"host key check failed for {host_name}: {exc}; nothing was run", "error")
        raise HostKeyRefused(f"host key check failed for {host_name}: {exc}") from exc
    except remote.RemoteError as exc:
        raise SatelliteError(f"{host_name}: {exc}") from exc
    services.host_pin_first_key(target=target, host_name=host_name, tenant_id=ctx.tenant_id, seen=result.host_key)
    return result


@satellite(
    "ssh.exec",
    description=(
        "Runs one argv list on a deploy host of the tenant over SSH (the tenant's deploy key, the host's "
        "pinned key), in `cwd` if given; arguments are quoted one by one, never joined into a shell line. "
        "A non-zero exit status fails the step unless `fail_on_exit` is false."
    ),
    inputs={
        "type": "object",
        "properties": {
            "host": HOST,
            "argv": {"type": "array", "items": ARG, "minItems": 1, "maxItems": MAX_ARGS},
            "cwd": ABSOLUTE,
            "timeout_seconds": TIMEOUT,
            "max_output_bytes": {"type": "integer", "minimum": 1, "maximum": 1024 * 1024},
            "fail_on_exit": {"type": "boolean", "default": True},
        },
        "required": ["host", "argv"],
        "additionalProperties": False,
    },
    outputs={
        "type": "object",
        "properties": {"exit_status": {"type": "integer"}, "stdout": {"type": "string"}, "stderr": {"type": "string"},
                       "truncated": {"type": "boolean"}, "duration_ms": {"type": "integer"}},
    },
    default_timeout=600,
)
def ssh_exec(inputs: dict, ctx: StepContext) -> dict:
    target = _target(ctx, inputs["host"])
    argv = inputs["argv"]
    ctx.log(f"{inputs['host']}: {remote.command_line(argv, cwd=inputs.get('cwd'))}")
    result = _run(ctx, target, inputs["host"], argv, cwd=inputs.get("cwd"),
                  timeout=float(inputs.get("timeout_seconds", ctx.remaining())),
                  max_output_bytes=inputs.get("max_output_bytes", MAX_OUTPUT_BYTES))
    for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if text.strip():
            ctx.log(f"{stream}: {text.strip()[-2000:]}")
    if result.exit_status != 0 and inputs.get("fail_on_exit", True):
        raise SatelliteError(f"{argv[0]} exited with status {result.exit_status}: {result.stderr.strip()[-500:]}")
    return {"exit_status": result.exit_status, "stdout": result.stdout, "stderr": result.stderr,
            "truncated": result.truncated, "duration_ms": result.duration_ms}


@satellite(
    "git.sync",
    description=(
        "Clones `repository` into `directory` on a deploy host, or pulls it (fast-forward only) when the "
        "directory is already a clone; `branch` optional. Returns the commit checked out."
    ),
    inputs={
        "type": "object",
        "properties": {
            "host": HOST,
            "directory": ABSOLUTE,
            "repository": {"type": "string", "pattern": REPOSITORY_RE.pattern, "maxLength": 2048},
            "branch": {"type": "string", "pattern": BRANCH_RE.pattern},
            "timeout_seconds": TIMEOUT,
        },
        "required": ["host", "directory", "repository"],
        "additionalProperties": False,
    },
    outputs={"type": "object", "properties": {"action": {"enum": ["cloned", "pulled"]}, "commit": {"type": "string"}}},
    default_timeout=600,
)
def git_sync(inputs: dict, ctx: StepContext) -> dict:
    host, directory, branch = inputs["host"], inputs["directory"], inputs.get("branch")
    target = _target(ctx, host)
    timeout = float(inputs.get("timeout_seconds", ctx.remaining()))

    def run(argv: list[str], cwd: str | None = None) -> remote.RemoteResult:
        return _run(ctx, target, host, argv, cwd=cwd, timeout=timeout)

    cloned = run(["test", "-d", f"{directory}/.git"]).exit_status == 0
    if cloned:
        argv = ["git", "-C", directory, "pull", "--ff-only", "origin", *([branch] if branch else [])]
    else:
        argv = ["git", "clone", *(["--branch", branch] if branch else []), "--", inputs["repository"], directory]
    ctx.log(f"{host}: {remote.command_line(argv)}")
    result = run(argv)
    if result.exit_status != 0:
        raise SatelliteError(f"git {'pull' if cloned else 'clone'} exited with status {result.exit_status}: "
                             f"{result.stderr.strip()[-500:]}")
    commit = run(["git", "-C", directory, "rev-parse", "HEAD"]).stdout.strip()
    ctx.log(f"{host}: {directory} at {commit}")
    return {"action": "pulled" if cloned else "cloned", "commit": commit}
