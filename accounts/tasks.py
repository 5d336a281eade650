"""Celery tasks of the accounts app: thin wrappers over services; they take ids, never tokens."""
from celery import shared_task

from accounts import services

# SMTP hiccups (OSError) retry with backoff; a missing row is a no-op in the service.
RETRYING = {"bind": True, "ignore_result": True, "max_retries": 5, "autoretry_for": (OSError,), "retry_backoff": True}


@shared_task(**RETRYING)
def send_verification_email(self, *, user_id: str) -> None:
    services.verification_email_send(user_id=user_id)


@shared_task(**RETRYING)
def send_password_reset_email(self, *, user_id: str) -> None:
    services.password_reset_email_send(user_id=user_id)


@shared_task(ignore_result=True)
def flush_expired_sessions() -> None:
    """Periodic (see CELERY_BEAT_SCHEDULE): keeps the refresh-token tables small."""
    services.sessions_flush_expired()
