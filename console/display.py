"""List-column helpers shared by the apps' admins."""
from datetime import UTC, datetime

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince


def relative_time(value: datetime | None, *, now: datetime | None = None) -> SafeString | str:
    """"3 minutes ago", with the exact UTC time on hover; "—" when never."""
    if value is None:
        return "—"
    now = now or timezone.now()
    exact = f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    if value > now:
        return format_html('<span title="{}">in {}</span>', exact, timesince(now, value))
    return format_html('<span title="{}">{} ago</span>', exact, timesince(value, now))
