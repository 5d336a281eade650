"""Create the first operator (a superuser) if there is none, and say how to sign in.

It lives in the console, the top floor: it needs accounts (the user) and monitoring (a worker
round trip through the heartbeat task), and accounts may import neither above it.

`make run` runs it as the Procfile's `operator` entry with `--wait-for … --stay`: it waits
until the web process answers /health, a worker has run a task and beat's start-up heartbeat
(config/celery.py) has been recorded, so its message comes after the processes' start-up
banners instead of scrolling away above them, then idles until Ctrl-C (honcho stops every
process as soon as one exits).
"""
import http.client
import secrets
import signal
import time
import uuid
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

RULE = "─" * 72
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _exit_quietly(signum, frame):
    raise SystemExit(0)


def _health_answers(url: str) -> bool:
    # Our own web process on this machine, not a request made on a user's behalf: the
    # outbound guard (core/outbound.py) is for those and refuses loopback by default.
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=2)
    try:
        connection.request("GET", parts.path or "/")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _poll(found, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found():
            return True
        time.sleep(0.25)
    return False


def _worker_answers(timeout: float) -> bool:
    """A heartbeat task round trip (as `manage.py smoke` does)."""
    from monitoring.models import Heartbeat
    from monitoring.tasks import heartbeat

    key = f"start:{uuid.uuid4().hex}"
    heartbeat.delay(key=key, sent_at=timezone.now().isoformat())
    return _poll(lambda: Heartbeat.objects.filter(key=key).delete()[0] > 0, timeout)


def _beat_started(since, timeout: float) -> bool:
    """A beat heartbeat recorded after `since`: beat's start-up one, or (had it landed before
    this command started) the next scheduled one, at most an interval later."""
    from monitoring.models import Heartbeat

    return _poll(lambda: Heartbeat.objects.filter(key="beat", seen_at__gte=since).exists(), timeout)


class Command(BaseCommand):
    help = "Create a first operator account when none exists; prints its credentials once."

    def add_arguments(self, parser):
        parser.add_argument("--email", default="admin@localhost")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--wait-for", metavar="HEALTH_URL", default="",
                            help="first wait until this URL answers 200, a worker runs a task and beat has started")
        parser.add_argument("--timeout", type=float, default=120.0, help="how long --wait-for waits")
        parser.add_argument("--stay", action="store_true", help="then keep running until SIGINT/SIGTERM")

    def handle(self, *args, email: str, base_url: str, wait_for: str, timeout: float, stay: bool, **options):
        if stay:
            for signum in STOP_SIGNALS:
                signal.signal(signum, _exit_quietly)
        if wait_for:
            self._wait(wait_for, timeout)
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # create and show the password in one piece
        try:
            lines = [f"Groundstation is up: {base_url}/admin/ · {base_url}/api/docs · {base_url}/health"]
            lines += self._operator(email=email, base_url=base_url)
            self.stdout.write("\n".join([RULE, *lines, RULE]))
            self.stdout.flush()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        while stay:
            signal.pause()

    def _wait(self, url: str, timeout: float) -> None:
        since, deadline = timezone.now(), time.monotonic() + timeout
        if not _poll(lambda: _health_answers(url), timeout):
            raise CommandError(f"{url} did not answer within {timeout:.0f}s")
        if not _worker_answers(max(1.0, deadline - time.monotonic())):
            raise CommandError(f"no worker ran a task within {timeout:.0f}s")
        if not _beat_started(since, max(1.0, deadline - time.monotonic())):
            raise CommandError(f"beat sent no heartbeat within {timeout:.0f}s")

    def _operator(self, *, email: str, base_url: str) -> list[str]:
        User = get_user_model()  # noqa: N806
        login_url = f"{base_url}/admin/"
        existing = User.objects.filter(is_superuser=True).order_by("created_at").first()
        if existing:
            return [
                f"Sign in at {login_url} as {existing.email} "
                f"(forgot the password? `manage.py changepassword {existing.email}`)."
            ]
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(email=email, password=password, name="Operator")
        return [
            self.style.SUCCESS(f"Created operator {email} with password {password}"),
            f"Sign in at {login_url} — this password is shown only once.",
        ]
