"""Celery tasks of the files app (thin: they call services). Scheduled in CELERY_BEAT_SCHEDULE."""
from celery import shared_task

from files import uploads


@shared_task(name="files.tasks.purge_expired_uploads")
def purge_expired_uploads() -> int:
    """Unfinished resumable uploads past their expiry, with their partial bytes and quota."""
    return uploads.upload_sessions_purge_expired()
