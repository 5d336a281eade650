"""Thin Celery wrappers over the usage services (scheduled in settings.CELERY_BEAT_SCHEDULE)."""
from celery import shared_task

from apikeys import services


@shared_task(name="apikeys.usage_flush", ignore_result=True, autoretry_for=(Exception,),
             retry_backoff=True, max_retries=3)
def usage_flush() -> int:
    return services.usage_flush()


@shared_task(name="apikeys.usage_prune", ignore_result=True)
def usage_prune() -> int:
    return services.usage_prune()


@shared_task(name="apikeys.invalidations_retry", ignore_result=True)
def invalidations_retry() -> int:
    """Cached snapshots whose invalidation failed while the store was down (see gateway.invalidation)."""
    from apikeys.gateway import invalidation
    from apikeys.gateway.store import StoreUnavailable

    try:
        return invalidation.retry_pending()
    except StoreUnavailable:
        return 0  # still down; the next tick tries again
