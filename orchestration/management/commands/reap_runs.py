"""Run the reaper once (normally beat does it every 30 s)."""

from django.core.management.base import BaseCommand

from orchestration import engine


class Command(BaseCommand):
    help = "Time out steps whose worker died (running past their deadline) and expire idempotency keys."

    def handle(self, *args, **options):
        self.stdout.write(f"reaped {engine.steps_reap()} step(s)")
