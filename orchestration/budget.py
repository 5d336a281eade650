"""Budgets for what a member's definitions make a worker build: template expansion, JMESPath
evaluation, and the JSON size of outputs.

Each one is counted *while* the value is produced, so work stops at the limit instead of
after it: a value made of shared references (`[@, @]` nested 26 times, a template that names
the same input 30,000 times) can be exponentially larger than the memory it occupies, and
the C-level `json.dumps` that would reveal its size cannot be interrupted by Celery's soft
time limit.
"""

from __future__ import annotations


class BudgetExceeded(Exception):
    """A step went over a size or work budget. Deterministic: retrying cannot help."""


class Budget:
    """A counter that raises once more than `limit` units were charged."""

    __slots__ = ("limit", "used", "what", "unit")

    def __init__(self, limit: int, what: str, unit: str = "bytes"):
        self.limit = limit
        self.used = 0
        self.what = what
        self.unit = unit

    def charge(self, amount: int = 1) -> None:
        self.used += amount
        if self.used > self.limit:
            raise BudgetExceeded(f"{self.what} is over its limit of {self.limit:,} {self.unit}")


def _int_size(value: int) -> int:
    if -(10**15) < value < 10**15:
        return len(str(value))
    return int(value.bit_length() * 0.30103) + 1  # digits, without str() (which refuses > 4,300)


def json_size(value, budget: Budget) -> int:
    """Charge `budget` with the length of `value` as compact JSON, walking it iteratively and
    stopping as soon as the budget is spent. Exact for ASCII text without escapes; escapes only
    make the real text longer (at most 6× per character), so a value that passes is at most a
    small multiple of the limit once dumped. Returns the size charged."""
    start = budget.used
    stack: list = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            budget.charge(len(item) + 2)
        elif isinstance(item, dict):
            budget.charge(1 + max(len(item), 1))  # braces and commas
            for key, child in item.items():
                budget.charge(len(key) + 3 if isinstance(key, str) else 8)  # "key":
                stack.append(child)
        elif isinstance(item, list | tuple):
            budget.charge(1 + max(len(item), 1))
            stack.extend(item)
        elif item is None or item is True:
            budget.charge(4)
        elif item is False:
            budget.charge(5)
        elif isinstance(item, int):
            budget.charge(_int_size(item))
        elif isinstance(item, float):
            budget.charge(len(repr(item)))
        else:  # what `default=str` makes of it
            budget.charge(len(str(item)) + 2)
    return budget.used - start

