"""Dropping cached snapshots when what they were built from changes.

Called from services and from the signal receivers in `apikeys.signals`. A snapshot is dropped
at once and again after the transaction commits, so a request racing the write cannot re-cache
the old row for the snapshot's lifetime.
"""
import logging

from django.db import transaction

from apikeys.gateway import snapshots
from apikeys.gateway.store import StoreUnavailable, get_store

logger = logging.getLogger("groundstation.gateway")


def _drop(cache_keys: list[str]) -> None:
    try:
        get_store().forget(cache_keys)
    except StoreUnavailable:
        logger.error("could not drop cached credential snapshots; they expire on their own", exc_info=True)


def forget(cache_keys: list[str]) -> None:
    cache_keys = sorted(set(cache_keys))
    if not cache_keys:
        return
    _drop(cache_keys)
    transaction.on_commit(lambda: _drop(cache_keys))


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
