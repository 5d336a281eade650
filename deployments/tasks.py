"""Celery tasks of the deployments app (thin: they call services). Scheduled in CELERY_BEAT_SCHEDULE."""
from celery import shared_task

from deployments import services


@shared_task(name="deployments.sweep")
def sweep() -> dict:
    """Deploys past their timeout fail and open an incident; deployments whose run ended
    without them noticing follow it."""
    return {"expired": services.deployments_expire(), "followed": services.deployments_follow_ended()}
