"""Celery tasks of the accounts app: thin wrappers over services."""
from celery import shared_task

from accounts.emails import email_send


@shared_task(bind=True, ignore_result=True, max_retries=5, autoretry_for=(OSError,), retry_backoff=True)
def send_email(self, *, template: str, to: str, context: dict) -> None:
    """Deliver one transactional e-mail; SMTP hiccups (OSError) retry with backoff."""
    email_send(template=template, to=to, context=context)
