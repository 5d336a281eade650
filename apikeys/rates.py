"""Rates written `N/s`, `N/m`, `N/h`, `N/d` (docs/apikeys-and-usage.md), parsed with django-ratelimit's own parser."""
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django_ratelimit.core import _split_rate

RATE_PATTERN = re.compile(r"^[1-9]\d{0,9}/[smhd]$")


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int  # seconds

    @property
    def text(self) -> str:
        unit = {1: "s", 60: "m", 3600: "h", 86400: "d"}[self.period]
        return f"{self.limit}/{unit}"


def parse_rate(text: str) -> Rate:
    """Parse one rate; raises ValidationError on anything but those four forms."""
    text = (text or "").strip()
    if not RATE_PATTERN.match(text):
        raise ValidationError(f'"{text}" is not a rate like "100/m" (units: s, m, h, d).')
    limit, period = _split_rate(text)
    return Rate(limit=limit, period=period)


def parse_rates(values) -> list[Rate]:
    if not isinstance(values, list | tuple):
        raise ValidationError("Rates must be a list such as [\"1000/m\", \"50000/h\"].")
    rates = [parse_rate(str(value)) for value in values]
    periods = [rate.period for rate in rates]
    if len(set(periods)) != len(periods):
        raise ValidationError("Give at most one rate per unit.")
    return rates

