"""Cluster definitions' YAML, loaded hostile-input safe.

The document is composed into a node tree with a `SafeLoader` subclass under caps — bytes,
nesting depth, alias count and the size the tree would have once aliases are expanded — so a
"billion laughs" is refused after composing a few hundred nodes, before anything is built from
it. Only then is it constructed (safe tags only: `!!python/object` is an error). Every node's
line and column is kept, so validation (`definitions.py`) can point at the node it concerns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import yaml

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_ALIASES = 100
MAX_NODES = 50_000  # after alias expansion


class DefinitionTooLarge(Exception):
    pass


@dataclass
class Problem:
    line: int
    column: int
    path: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "path": self.path, "message": self.message}


class DefinitionInvalid(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = sorted(problems, key=lambda p: (p.line, p.column))


class _Refused(yaml.YAMLError):
    def __init__(self, message: str, mark=None):
        super().__init__(message)
        self.message = message
        self.mark = mark


class LimitedLoader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting and too many aliases while composing."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Refused(f"too many aliases (more than {MAX_ALIASES})", self.peek_event().start_mark)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"nesting deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node):
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # Python refuses to convert more than 4,300 digits
            raise _Refused("an integer with too many digits", node.start_mark) from None

    def construct_yaml_float(self, node):
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):  # JSON has no infinity or NaN; PostgreSQL refuses them
            raise _Refused("a number that is not finite (JSON has no .inf or .nan)", node.start_mark)
        return value


LimitedLoader.add_constructor("tag:yaml.org,2002:int", LimitedLoader.construct_yaml_int)
LimitedLoader.add_constructor("tag:yaml.org,2002:float", LimitedLoader.construct_yaml_float)


def _expanded_size(root: yaml.Node) -> int:
    """Nodes the document would have with every alias expanded; refuses alias cycles.

    Memoised per node, so the walk is linear in the composed (unexpanded) tree.
    """
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in visiting:
            raise _Refused("an alias refers to a node that contains it", node.start_mark)
        visiting.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += size(child)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
        visiting.discard(key)
        if total > MAX_NODES:
            raise _Refused(f"the document expands to more than {MAX_NODES} nodes (alias bomb?)", node.start_mark)
        sizes[key] = total
        return total

    return size(root)


def _index_marks(node: yaml.Node, path: tuple, marks: dict, depth: int = 0) -> None:
    """Map each data path to the (line, column) of its node, and `path + ("__key__",)` to its key."""
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = (*path, key_node.value)
                marks[(*child, "__key__")] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                _index_marks(value_node, child, marks, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_marks(item, (*path, index), marks, depth + 1)


def _problem_from_yaml(exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "mark", None) or getattr(exc, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    if isinstance(exc, _Refused):
        message = exc.message
    elif isinstance(exc, yaml.constructor.ConstructorError):
        message = f"{exc.problem} (only plain YAML is accepted)" if exc.problem else "unsupported YAML"
    else:
        parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        message = "YAML syntax error: " + (", ".join(p for p in parts if p) or str(exc))
    return Problem(line, column, "", message)


def load(text: str) -> tuple[object, dict]:
    """Parse under the caps; returns (data, marks). Raises DefinitionTooLarge / DefinitionInvalid."""
    if len(text.encode("utf-8", errors="ignore")) > MAX_BYTES:
        raise DefinitionTooLarge(f"the definition is larger than {MAX_BYTES // 1024} KiB")
    loader = None
    try:
        loader = LimitedLoader(text)  # the reader already refuses non-printable characters
        node = loader.get_single_node()
        if node is None:
            raise DefinitionInvalid([Problem(1, 1, "", "the definition is empty")])
        _expanded_size(node)
        data = loader.construct_document(node)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise DefinitionInvalid(
            [Problem(line, column, "", f"YAML syntax error: character #x{exc.character:04x} is not allowed")]
        )
    except yaml.YAMLError as exc:
        raise DefinitionInvalid([_problem_from_yaml(exc)])
    finally:
        if loader is not None:
            loader.dispose()
    marks: dict = {}
    _index_marks(node, (), marks)
    return data, marks
