"""What a period costs: the plan's flat fee and the metered calls beyond the included ones.

Pure functions of a plan and a request count, shared by the upcoming invoice (computed live)
and the period close, so the two can never disagree.

Rounding: the overage is `overage_requests × overage_cents_per_1000 / 1000`, rounded half up
to a whole minor unit (1,500 calls at 1 cent per 1,000 is 2 cents; 1,499 is 1 cent).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta

from tenants.models import Plan


@dataclass(frozen=True)
class Line:
    kind: str  # InvoiceLine.Kind
    description: str
    quantity: int
    unit_cents: int
    amount_cents: int


def overage_cents(*, requests: int, included: int, cents_per_1000: int) -> int:
    overage = max(0, requests - included)
    return (overage * cents_per_1000 + 500) // 1000


def period_lines(*, plan: Plan | None, requests: int, trial: bool = False) -> list[Line]:
    """The lines of one period: the plan's fee, then the usage line whose quantity is the
    meter's exact request count (its amount is only the part beyond the included calls).
    A trial period charges nothing but still shows the calls made."""
    if plan is None:
        return [Line("usage", "API requests (no plan)", requests, 0, 0)]
    fee = 0 if trial else plan.price_cents
    label = f"{plan.name} plan, 1 {plan.interval}" + (" (trial)" if trial else "")
    included = f"{plan.included_requests:,} included" if plan.included_requests else "none included"
    usage_amount = 0 if trial else overage_cents(
        requests=requests, included=plan.included_requests, cents_per_1000=plan.overage_cents_per_1000
    )
    return [
        Line("plan", label, 1, fee, fee),
        Line(
            "usage",
            f"API requests ({included}; {plan.overage_cents_per_1000} per 1,000 beyond)",
            requests,
            plan.overage_cents_per_1000,
            usage_amount,
        ),
    ]


def totals(lines: list[Line]) -> dict:
    """Tax is not computed here (see docs/billing.md): tax_cents is 0 and total = subtotal."""
    subtotal = sum(line.amount_cents for line in lines)
    return {"subtotal_cents": subtotal, "tax_cents": 0, "total_cents": subtotal}


def day_start(moment: datetime) -> datetime:
    """Midnight UTC of that day: periods are whole days, like the meter's rollups."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def interval_delta(interval: str, count: int = 1) -> relativedelta:
    return relativedelta(years=count) if interval == Plan.Interval.YEAR else relativedelta(months=count)


def period_end_after(*, anchor: datetime, start: datetime, interval: str) -> datetime:
    """The first anchor + n intervals after `start`. Counting from the anchor (not from the
    last end) keeps a subscription started on the 31st on the last day of short months
    without drifting to the 28th for good."""
    count = 1
    while anchor + interval_delta(interval, count) <= start:
        count += 1
    return anchor + interval_delta(interval, count)


def meter_days(start: datetime, end: datetime) -> tuple:
    """The inclusive first and last day of the meter's rollups that make up [start, end)."""
    return start.date(), (end - timedelta(days=1)).date()
