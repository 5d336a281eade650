"""What may import what between the top-level folders (README, "Architecture").

A small walk over every module's `import` statements (also those inside functions: a lazy
import is a dependency all the same). Chosen over import-linter contracts because the rules
are one table of floors, read here in a few lines, and need no extra tool or config format;
the test names each offending file.

Floors, bottom to top: `core` < `notifications` < `accounts` < `tenants` < `apikeys` < the domain
apps < `deployments` (it drives hosts through orchestration's runs and opens monitoring's incidents) <
`console` < `config`. A folder imports only folders on floors below its own, so there is no
cycle and `config` (settings, urls, asgi, celery, routing: the roof) is imported by nobody.
Apps on the same floor never import each other (monitoring and orchestration in particular).
`tests/` and `bench/` exercise everything and are not part of the building.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = {"tests", "bench"}
FLOORS = [
    {"core"},
    {"notifications"},
    {"accounts"},
    {"tenants"},
    {"apikeys"},
    {"monitoring", "orchestration", "recommendations", "billing", "files"},
    {"deployments"},
    {"console"},
    {"config"},
]
FLOOR = {folder: level for level, folders in enumerate(FLOORS) for folder in folders}


def top_level_folders() -> set[str]:
    return {path.parent.name for path in ROOT.glob("*/__init__.py")} - OUTSIDE


def arrows() -> dict[tuple[str, str], set[str]]:
    """(importer, imported) → the importing files, between different top-level folders."""
    folders = top_level_folders()
    found: dict[tuple[str, str], set[str]] = {}
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    target = name.partition(".")[0]
                    if target in folders and target != folder:
                        found.setdefault((folder, target), set()).add(str(path.relative_to(ROOT)))
    return found


def forbidden(importer: str, imported: str) -> bool:
    return FLOOR[imported] >= FLOOR[importer]


def test_every_top_level_folder_has_a_floor():
    assert top_level_folders() <= set(FLOOR), "put the new folder on a floor in FLOORS (and the README)"


def test_every_import_points_down():
    broken = {
        f"{importer} → {imported}": sorted(files)
        for (importer, imported), files in arrows().items()
        if forbidden(importer, imported)
    }
    assert broken == {}


def test_no_cycle_between_top_level_folders():
    graph: dict[str, set[str]] = {}
    for importer, imported in arrows():
        graph.setdefault(importer, set()).add(imported)
    done: set[str] = set()

    def cycle_from(folder: str, path: list[str]) -> list[str] | None:
        if folder in path:
            return path[path.index(folder):] + [folder]
        if folder in done:
            return None
        for imported in sorted(graph.get(folder, ())):
            found = cycle_from(imported, [*path, folder])
            if found:
                return found
        done.add(folder)
        return None

    cycles = [cycle for folder in sorted(graph) if (cycle := cycle_from(folder, []))]
    assert cycles == []


def test_the_rules_themselves():
    # The floors say what the README says; a typo in FLOORS must not quietly allow an arrow.
    assert not forbidden("apikeys", "accounts") and not forbidden("config", "console")
    assert forbidden("core", "accounts") and forbidden("accounts", "tenants")
    assert not forbidden("accounts", "notifications") and forbidden("notifications", "accounts")
    assert forbidden("monitoring", "orchestration") and forbidden("orchestration", "monitoring")
    assert forbidden("monitoring", "console") and forbidden("console", "config")
