"""What may reach a remote command: names, paths and argv lists, checked before anything is saved.

Nothing here builds a command: argv lists stay lists until `deployments.remote` joins them with
`shlex.join`, so `;`, `$(…)`, quotes and spaces are harmless inside an argument. These checks
refuse what could still surprise: names that are not DNS labels, a `directory` that is not an
absolute normalised path, a `log_file` that climbs out of it, NUL and control characters, and
workflow templates (`${{ … }}`) the engine would resolve inside a generated deploy cluster.
A `log_file` is also resolved on the host (`realpath`) before it is read, so a symlink cannot
lead out either; that check is the remote layer's (`remote.resolve_inside`).
"""
from __future__ import annotations

import posixpath
import re


class Invalid(Exception):
    """A refused value; `detail` is a list of messages, or per position/field for a list."""

    def __init__(self, detail):
        super().__init__(detail)
        self.detail = [detail] if isinstance(detail, str) else detail

DNS_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_PATH = 1024
MAX_ARGS = 64
MAX_ARG_CHARS = 4096
MAX_STEPS = 32
MAX_SERVICES = 50
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
TEMPLATE = "${{"
# A git remote git itself resolves without running anything of ours: no `ext::` helpers, no
# leading `-` (and `--` precedes it on the command line anyway).
REPOSITORY_RE = re.compile(r"^(https?://|ssh://|git://|file:///|/|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:)[^\s\x00]*$")
BRANCH_RE = re.compile(r"^(?!.*\.\.)(?!.*\.lock$)[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}$")


def dns_label(value) -> str:
    if not isinstance(value, str) or not DNS_LABEL_RE.fullmatch(value):
        raise Invalid(
            "Must be a DNS label: 1-63 lowercase letters, digits and hyphens, not starting or ending with a hyphen."
        )
    return value


def _plain_text(value: str, what: str, *, multiline: bool = False) -> None:
    if "\x00" in value or (not multiline and CONTROL_RE.search(value)):
        raise Invalid(f"The {what} may not contain NUL, newlines or other control characters."
                      if not multiline else f"The {what} may not contain NUL.")
    if TEMPLATE in value:
        raise Invalid(f"The {what} may not contain '${{{{' (workflow templates are not resolved here).")


def directory(value) -> str:
    """An absolute, normalised POSIX path other than `/`."""
    if not isinstance(value, str) or not value:
        raise Invalid("Must be an absolute path.")
    if len(value) > MAX_PATH:
        raise Invalid(f"At most {MAX_PATH} characters.")
    _plain_text(value, "directory")
    if not value.startswith("/"):
        raise Invalid("Must be an absolute path (starting with '/').")
    if value == "/" or posixpath.normpath(value) != value or value.startswith("//"):
        raise Invalid("Must be normalised (no '.', '..', '//' or trailing '/') and not '/' itself.")
    return value


def log_file(value) -> str:
    """A path relative to the project's directory that stays inside it (by string; the host's
    `realpath` check follows symlinks when the file is read)."""
    if not isinstance(value, str) or not value:
        raise Invalid("Must be a relative path inside the project's directory.")
    if len(value) > MAX_PATH:
        raise Invalid(f"At most {MAX_PATH} characters.")
    _plain_text(value, "log file")
    if value.startswith("/") or value.startswith("~"):
        raise Invalid("Must be relative to the project's directory.")
    normal = posixpath.normpath(value)
    if normal in (".", "..") or normal.startswith("../") or ".." in value.split("/"):
        raise Invalid("May not leave the project's directory ('..').")
    if normal != value:
        raise Invalid("Must be normalised (no '.', '//' or trailing '/').")
    return value


def argv(value, *, what: str = "command") -> list[str]:
    """A non-empty list of strings: one program and its arguments, each kept as one argument."""
    if not isinstance(value, list) or not value:
        raise Invalid(f"The {what} must be a non-empty list of strings (an argv, not a shell line).")
    if len(value) > MAX_ARGS:
        raise Invalid(f"The {what} may have at most {MAX_ARGS} arguments.")
    for arg in value:
        if not isinstance(arg, str):
            raise Invalid(f"Every argument of the {what} must be a string.")
        if len(arg) > MAX_ARG_CHARS:
            raise Invalid(f"An argument of the {what} has more than {MAX_ARG_CHARS} characters.")
        _plain_text(arg, f"{what}'s arguments", multiline=True)  # a `sh -c` script may span lines
    if not value[0]:
        raise Invalid(f"The {what}'s program (its first element) may not be empty.")
    return value


def deploy_steps(value) -> list[list[str]]:
    if not isinstance(value, list):
        raise Invalid("Must be a list of argv lists, e.g. [[\"git\", \"pull\"]].")
    if len(value) > MAX_STEPS:
        raise Invalid(f"At most {MAX_STEPS} steps.")
    problems = {}
    for index, step in enumerate(value):
        try:
            argv(step, what="step")
        except Invalid as exc:
            problems[str(index)] = exc.detail
    if problems:
        raise Invalid(problems)
    return value


def healthcheck_url(value) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]", value) or len(value) > 2048:
        raise Invalid("Must be an http:// or https:// URL (at most 2048 characters).")
    _plain_text(value, "health check URL")
    return value


SERVICE_FIELDS = {"name", "log_file", "restart", "healthcheck_url"}


def services(value) -> list[dict]:
    """`[{name, log_file?, restart?, healthcheck_url?}]`, names unique; errors keyed by position."""
    if not isinstance(value, list):
        raise Invalid("Must be a list of services.")
    if len(value) > MAX_SERVICES:
        raise Invalid(f"At most {MAX_SERVICES} services.")
    problems: dict[str, dict[str, list[str]]] = {}
    seen = set()
    checks = {"name": dns_label, "log_file": log_file, "restart": argv, "healthcheck_url": healthcheck_url}
    for index, service in enumerate(value):
        errors: dict[str, list[str]] = {}
        if not isinstance(service, dict):
            problems[str(index)] = {"non_field_errors": ["Must be an object."]}
            continue
        for field in sorted(set(service) - SERVICE_FIELDS):
            errors[field] = ["Unknown field."]
        if "name" not in service:
            errors["name"] = ["This field is required."]
        for field, check in checks.items():
            if field in service and not (field != "name" and service[field] is None):
                try:
                    check(service[field])
                except Invalid as exc:
                    errors[field] = exc.detail
        if not errors and service["name"] in seen:
            errors["name"] = ["Another service has this name."]
        if errors:
            problems[str(index)] = errors
        elif isinstance(service.get("name"), str):
            seen.add(service["name"])
    if problems:
        raise Invalid(problems)
    return [{k: v for k, v in service.items() if v is not None} for service in value]
