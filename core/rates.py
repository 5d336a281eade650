"""Rates written `N/s`, `N/m`, `N/h`, `N/d` (fixed windows) or `N/<unit> burst M` (a token
bucket refilled at N per unit, holding at most M); see docs/apikeys-and-usage.md.

In core because two floors read them: tenants (a plan's rates, validated in its admin form) and
apikeys (the limiter, key rates, role and route-class limits)."""
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

RATE_PATTERN = re.compile(r"^([1-9]\d{0,8})/([smhd])(?: burst ([1-9]\d{0,8}))?$")
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
UNITS = {seconds: unit for unit, seconds in PERIODS.items()}


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int  # seconds
    burst: int | None = None  # a token bucket's capacity; None: a fixed window

    @property
    def text(self) -> str:
        base = f"{self.limit}/{UNITS[self.period]}"
        return f"{base} burst {self.burst}" if self.burst else base

    def as_limit(self, bucket: str) -> list:
        """The gateway's shape: `[bucket, limit, period]`, or `[…, burst]` for a token bucket."""
        return [bucket, self.limit, self.period] + ([self.burst] if self.burst else [])


def parse_rate(text: str) -> Rate:
    """Parse one rate; raises ValidationError on anything but those forms."""
    text = " ".join(str(text or "").split())
    match = RATE_PATTERN.match(text)
    if not match:
        raise ValidationError(
            f'"{text}" is not a rate like "100/m" or "10/s burst 20" (units: s, m, h, d).'
        )
    limit, unit, burst = match.groups()
    return Rate(limit=int(limit), period=PERIODS[unit], burst=int(burst) if burst else None)


def parse_rates(values) -> list[Rate]:
    if not isinstance(values, list | tuple):
        raise ValidationError("Rates must be a list such as [\"1000/m\", \"50000/h\"].")
    rates = [parse_rate(str(value)) for value in values]
    kinds = [(rate.period, rate.burst is not None) for rate in rates]
    if len(set(kinds)) != len(kinds):
        raise ValidationError("Give at most one window and one bucket per unit.")
    return rates
