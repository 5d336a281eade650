"""Fixtures for e-mail flows: tasks run eagerly after a real commit, mail lands in the outbox."""
import re
import time

import pytest
from django.core import mail

from config.celery import app


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Hashing strength is Django's business; these tests exercise flows, quickly."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def outbox(transactional_db):
    """Sent e-mail, with Celery tasks executed in-process once the transaction commits."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    mail.outbox = []
    yield mail.outbox
    app.conf.task_always_eager = previous
    app._after_fork()  # eager sends pool a producer too; don't leave it to a later live worker


def wait_for_mail(count: int, timeout: float = 20) -> list:
    """Poll the outbox while a real worker delivers (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while len(mail.outbox) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return mail.outbox


def token_from(message, name: str = "token") -> str:
    """The token carried by a sent e-mail's link (plain-text part)."""
    match = re.search(rf"[?&]{name}=([^\s&]+)", message.body)
    assert match, message.body
    return match.group(1)
