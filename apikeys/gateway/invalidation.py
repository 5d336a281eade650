"""Dropping cached snapshots when what they were built from changes.

Called from services and from the signal receivers in `apikeys.signals`. A snapshot is dropped
at once and again after the transaction commits, so a request racing the write cannot re-cache
the old row for the snapshot's lifetime.

When the store is down the drop cannot happen, and a snapshot that said "valid" would come
back with the store (a key revoked during a short Redis pause worked again for minutes). So a
failed drop leaves a durable record (`PendingInvalidation`, in the same transaction as the
change when it can), and `retry_pending()` drops those keys before anything trusts the store
again: the gateway of every process that saw the outage calls it first, and a beat task
every 5 s covers processes that did not.
"""
import logging
import threading

from django.db import transaction

from apikeys.gateway import snapshots
from apikeys.gateway.store import StoreUnavailable, get_store

logger = logging.getLogger("groundstation.gateway")
RETRY_BATCH = 1000
# Set when this process failed to reach the store for an invalidation; cleared by a full retry.
_pending_here = threading.Event()


def _record(cache_keys: list[str]) -> None:
    from apikeys.models import PendingInvalidation

    PendingInvalidation.objects.bulk_create([PendingInvalidation(cache_key=key) for key in cache_keys])
    _pending_here.set()


def _drop(cache_keys: list[str]) -> bool:
    try:
        get_store().forget(cache_keys)
    except StoreUnavailable:
        logger.error("could not drop cached credential snapshots; recorded for a retry", exc_info=True)
        return False
    return True


def forget(cache_keys: list[str]) -> None:
    cache_keys = sorted(set(cache_keys))
    if not cache_keys:
        return
    if not _drop(cache_keys):
        _record(cache_keys)  # inside the caller's transaction: durable exactly when the change is

    def after_commit() -> None:
        if not _drop(cache_keys):
            with transaction.atomic():
                _record(cache_keys)

    transaction.on_commit(after_commit)


def retry_pending() -> int:
    """Drop every recorded key from the store, then forget the records. Raises StoreUnavailable."""
    from apikeys.models import PendingInvalidation

    dropped = 0
    while True:
        rows = list(PendingInvalidation.objects.values_list("pk", "cache_key")[:RETRY_BATCH])
        if not rows:
            _pending_here.clear()
            return dropped
        get_store().forget(sorted({key for _pk, key in rows}))
        PendingInvalidation.objects.filter(pk__in=[pk for pk, _key in rows]).delete()
        dropped += len(rows)


def pending_here() -> bool:
    return _pending_here.is_set()


def forget_keys(*public_ids: str) -> None:
    forget([snapshots.key_cache_key(public_id) for public_id in public_ids if public_id])


def forget_users(user_ids) -> None:
    """A person's snapshot and those of all their personal tokens."""
    from accounts.models import PersonalAccessToken

    user_ids = list(user_ids)
    if not user_ids:
        return
    public_ids = PersonalAccessToken.objects.filter(user_id__in=user_ids).values_list("public_id", flat=True)
    forget([snapshots.user_cache_key(uid) for uid in user_ids] + [snapshots.pat_cache_key(p) for p in public_ids])


def forget_tenants(tenant_ids) -> None:
    """Everything that carries these tenants' limits or status: their keys and their members."""
    from apikeys.models import ApiKey
    from tenants.models import Membership

    tenant_ids = list(tenant_ids)
    forget_keys(*ApiKey.objects.filter(tenant_id__in=tenant_ids).values_list("public_id", flat=True))
    forget_users(set(Membership.objects.filter(tenant_id__in=tenant_ids).values_list("user_id", flat=True)))
