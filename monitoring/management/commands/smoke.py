"""Prove that a task sent from this process is executed by a running Celery worker."""
import time
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from monitoring.models import Heartbeat
from monitoring.tasks import heartbeat


class Command(BaseCommand):
    help = "Send a heartbeat task and wait until a worker has recorded it."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=30.0)

    def handle(self, *args, timeout: float, **options):
        key = f"smoke:{uuid.uuid4().hex}"
        started = time.monotonic()
        heartbeat.delay(key=key, sent_at=timezone.now().isoformat())
        while time.monotonic() - started < timeout:
            found = Heartbeat.objects.filter(key=key).first()
            if found:
                found.delete()
                elapsed = time.monotonic() - started
                self.stdout.write(self.style.SUCCESS(f"worker {found.worker} ran the task in {elapsed:.2f}s"))
                return
            time.sleep(0.2)
        raise CommandError(f"no worker ran the smoke task within {timeout:.0f}s; is the worker running?")
