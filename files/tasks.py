"""Celery tasks of the files app (thin: they call services). Scheduled in CELERY_BEAT_SCHEDULE."""
from celery import shared_task

from files import services, uploads


@shared_task(name="files.tasks.purge_expired_uploads")
def purge_expired_uploads() -> int:
    """Uploads a crash left half-assembled are finished; then unfinished resumable uploads past
    their expiry go, with their partial bytes and quota."""
    uploads.upload_sessions_recover()
    return uploads.upload_sessions_purge_expired()


@shared_task(name="files.tasks.flush_access_log", ignore_result=True, autoretry_for=(Exception,),
             retry_backoff=True, max_retries=3)
def flush_access_log() -> int:
    """Buffered download rows (files.access_log) into the access log, in bulk."""
    return services.access_log_flush()
