"""Where `seed_nodes` reads its nodes from: the seeds' `nodes.json`, the status page's Python
mapping file, or `NODE_<n>_*` environment variables.

Each reader returns `(label, entry)` pairs, the label naming the entry in error messages
(`entry 3`, `"5.161.213.40"`, `NODE_2`). None of them imports or executes what it reads.
"""
import ast
import json
import re
from collections.abc import Mapping
from pathlib import Path

MAX_SOURCE_BYTES = 1_000_000  # a fleet's mapping is kilobytes; refuse anything that is not
ENV_KEY = re.compile(r"^NODE_(\d{1,6})_(IP|NAME|PUBKEY|PORT)$")


class SourceError(ValueError):
    """The source itself is unreadable; the message says where."""


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            raise SourceError(f"{path}: larger than {MAX_SOURCE_BYTES:,} bytes.")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file.") from None
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not UTF-8 text.") from None


def from_json(path: Path) -> list[tuple[str, object]]:
    """`[{"name", "ip", "pubkey", …}]`, or `{"nodes": [...]}`."""
    try:
        data = json.loads(_read(path))
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.") from None
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        data = data["nodes"]
    if not isinstance(data, list):
        raise SourceError(f"{path}: expected a JSON list of nodes.")
    return [(f"entry {index}", entry) for index, entry in enumerate(data)]


def from_mapping_file(path: Path, variable: str = "") -> list[tuple[str, object]]:
    """A Python file whose mapping is a dict literal, as the status page writes it:
    `PILLAR_MAPPING = {"5.161.213.40": {"name": "Anvil", "pubkey": "…"}}` (or `{ip: "name"}`).

    The file is parsed, never imported: only a literal (`ast.literal_eval`) is accepted, so a
    call, a name or a comprehension in the mapping is refused, not run.
    """
    source = _read(path)
    try:
        module = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise SourceError(f"{path}: not valid Python at line {exc.lineno}: {exc.msg}.") from None
    assignments = [
        (target.id, node.value)
        for node in module.body
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and isinstance(node.value, ast.Dict)
    ]
    if variable:
        assignments = [pair for pair in assignments if pair[0] == variable]
    if not assignments:
        wanted = f"a dict assigned to {variable}" if variable else "a top-level dict assignment"
        raise SourceError(f"{path}: found no {wanted}.")
    if len(assignments) > 1:
        names = ", ".join(name for name, _ in assignments)
        raise SourceError(f"{path}: several mappings ({names}); choose one with --mapping-variable.")
    name, value = assignments[0]
    try:
        mapping = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise SourceError(
            f"{path}: {name} (line {value.lineno}) is not a literal; only strings, numbers, lists "
            "and dicts are read, nothing is executed."
        ) from None
    entries = []
    for ip, details in mapping.items():
        label = repr(ip)
        if isinstance(details, str):
            details = {"name": details}
        entries.append((label, {**details, "ip": ip} if isinstance(details, Mapping) else details))
    return entries


def from_environment(environ: Mapping[str, str]) -> list[tuple[str, object]]:
    """`NODE_1_IP`, `NODE_1_NAME`, `NODE_1_PUBKEY` (and optionally `NODE_1_PORT`), … in n order."""
    nodes: dict[int, dict[str, str]] = {}
    for key, value in environ.items():
        match = ENV_KEY.match(key)
        if match:
            nodes.setdefault(int(match[1]), {})[match[2].lower()] = value
    if not nodes:
        raise SourceError("no NODE_<n>_IP / NODE_<n>_NAME variables are set.")
    entries = []
    for number in sorted(nodes):
        entry: dict[str, object] = dict(nodes[number])
        if "port" in entry:
            port = str(entry["port"]).strip()
            entry["port"] = int(port) if port.isdigit() else port
        entries.append((f"NODE_{number}", entry))
    return entries
