"""Celery tasks of the tenants app: thin wrappers over services; they take ids, never tokens."""
from celery import shared_task

from tenants import services


@shared_task(bind=True, ignore_result=True, max_retries=5, autoretry_for=(OSError,), retry_backoff=True)
def send_invitation_email(self, *, invitation_id: str) -> None:
    services.invitation_email_send(invitation_id=invitation_id)
