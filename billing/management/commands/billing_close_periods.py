"""`manage.py billing_close_periods`: what the beat does every 5 minutes, on demand (e.g. after
beat was down, or from cron where beat is not run)."""
from django.core.management.base import BaseCommand

from billing import services


class Command(BaseCommand):
    help = "Close every billing period that has ended (idempotent) and suspend overdue tenants."

    def handle(self, *args, **options) -> None:
        closed = services.periods_close_due()
        suspended = services.subscriptions_suspend_overdue()
        self.stdout.write(f"closed {closed} periods; suspended {suspended} overdue tenants")
