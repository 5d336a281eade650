"""JMESPath for `json.transform`, evaluated under a work budget.

An expression of a few hundred characters can build a value exponentially larger than its
input (`[@, @]` nested, projections over them, `to_string`, `join`), and Python's own
`json.dumps`, list copies and deep comparisons run in C where no time limit reaches. So the
interpreter charges a budget for every node it visits and for the size of everything it
builds or copies *before* the copy is made; past the budget the step fails with a clear error.
"""

from __future__ import annotations

import jmespath
from jmespath import functions
from jmespath.exceptions import JMESPathError
from jmespath.visitor import Options, TreeInterpreter

from orchestration.budget import Budget, json_size

# Units: one per node visited plus the items of every list, object or string built or copied.
# A transform of a few thousand records uses tens of thousands.
MAX_EXPRESSION_WORK = 2_000_000
# Functions whose cost grows with the whole depth of an argument, not just its length.
_DEEP_ARGUMENTS = {"to_string", "contains"}


def compile_expression(expression: str):
    """Compile a JMESPath expression; raises ValueError with the parser's message."""
    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        raise ValueError(str(exc).strip().splitlines()[0]) from exc
    except RecursionError as exc:  # the parser recurses once per nesting level
        raise ValueError("the expression is nested too deeply") from exc


def _shallow(value) -> int:
    return len(value) if isinstance(value, list | dict | str) else 0


class _Functions(functions.Functions):
    def __init__(self, budget: Budget):
        super().__init__()
        self._budget = budget

    def call_function(self, function_name, resolved_args):
        for arg in resolved_args:
            if function_name in _DEEP_ARGUMENTS:
                json_size(arg, self._budget)
            elif function_name == "join" and isinstance(arg, list):
                self._budget.charge(sum(_shallow(item) + 1 for item in arg))
            else:
                self._budget.charge(_shallow(arg))
        return super().call_function(function_name, resolved_args)


class _Interpreter(TreeInterpreter):
    def __init__(self, budget: Budget):
        super().__init__(Options(custom_functions=_Functions(budget)))
        self._budget = budget

    def visit(self, node, *args, **kwargs):
        self._budget.charge(1)
        result = super().visit(node, *args, **kwargs)
        self._budget.charge(_shallow(result))
        return result

    def visit_comparator(self, node, value):
        if node["value"] not in self._EQUALITY_OPS:  # ordering: numbers and strings only
            return super().visit_comparator(node, value)
        # == compares nested values in C, in time exponential for shared structures.
        left, right = (self.visit(child, value) for child in node["children"])
        if left is not right:
            json_size(left, self._budget)
            json_size(right, self._budget)
        return self.COMPARATOR_FUNC[node["value"]](left, right)

    def visit_flatten(self, node, value):
        base = self.visit(node["children"][0], value)
        if not isinstance(base, list):
            return None
        self._budget.charge(sum(_shallow(element) or 1 for element in base))  # before the copy
        merged = []
        for element in base:
            if isinstance(element, list):
                merged.extend(element)
            else:
                merged.append(element)
        return merged


def evaluate(expression: str, data, *, budget: Budget | None = None):
    """Evaluate `expression` over `data`; raises ValueError for a bad expression and
    BudgetExceeded when the evaluation would do or build too much."""
    parsed = compile_expression(expression)
    budget = budget or Budget(MAX_EXPRESSION_WORK, "the expression's evaluation", "units of work")
    try:
        return _Interpreter(budget).visit(parsed.parsed, data)
    except JMESPathError as exc:
        raise ValueError(str(exc).strip().splitlines()[0]) from exc
    except RecursionError as exc:
        raise ValueError("the expression is nested too deeply to evaluate") from exc
