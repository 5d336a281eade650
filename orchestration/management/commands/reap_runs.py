"""Run the reaper once (normally beat does it every 30 s)."""

from django.core.management.base import BaseCommand

from orchestration.engine import reaper


class Command(BaseCommand):
    help = (
        "Time out steps whose worker died (running past their deadline), re-send steps whose message was lost "
        "(queued long past due), repair runs a crash left half-advanced and expire idempotency keys."
    )

    def handle(self, *args, **options):
        resent = reaper.steps_resend()
        repaired = reaper.runs_repair()
        self.stdout.write(f"reaped {reaper.steps_reap()} step(s), re-sent {resent}, runs checked {repaired}")
