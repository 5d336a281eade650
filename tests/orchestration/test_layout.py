"""The orchestration app's floor plan, read from its source (no Django needed): no import circle
between its modules, the engine below the services, views and admin writing only through the
services, reads never importing the engine, and engine and service modules of a readable size."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "orchestration"
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in APP.rglob("*.py") if "migrations" not in path.parts}


def _imports(path: Path, known: set[str]) -> set[str]:
    """The app's modules this file imports anywhere (function-level imports included: a lazy
    import hides a circle from the interpreter, not from the reader)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module in known:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & known
            found |= submodules or {node.module}
            if len(submodules) < len(node.names):
                found.add(node.module)
    return found - {_module_name(path)}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, set(modules)) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for target in sorted(graph.get(name, ())):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name)):
            return found
    return None


def test_the_app_has_no_import_circle():
    assert _cycle(_graph()) is None


def test_the_circle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


def test_views_and_admin_write_through_the_services_and_reads_never_import_the_engine():
    graph = _graph()
    engine = {name for name in graph if name == "orchestration.engine" or name.startswith("orchestration.engine.")}
    for module in ("orchestration.api.views", "orchestration.admin", "orchestration.selectors"):
        assert not graph[module] & engine, module
    assert "orchestration.services" in graph["orchestration.api.views"]
    assert "orchestration.services" in graph["orchestration.admin"]
    assert not any("orchestration.services" in graph[name] for name in engine)  # the engine is below


def test_the_engine_and_the_services_stay_readable():
    too_long = {
        name: lines
        for name, path in _modules().items()
        if name.startswith(("orchestration.engine", "orchestration.services"))
        and (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not too_long
