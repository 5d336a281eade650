"""Key and credential lookups through the snapshot cache (no SQL when warm)."""
import hmac
import logging
import time

from django.conf import settings

from apikeys.gateway import invalidation, snapshots
from apikeys.gateway.store import StoreUnavailable, get_store
from core import credentials

logger = logging.getLogger("groundstation.gateway")


def load_key_snapshot(public_id: str) -> dict | None:
    """The key's snapshot from the cache, else the database (also when the cache is down)."""
    build = lambda: snapshots.build_key_snapshot(public_id)  # noqa: E731
    try:
        if invalidation.pending_here():
            invalidation.retry_pending()
        result = get_store().check(
            snapshots.key_cache_key(public_id), build, selector="", extra=[], now=time.time(), count=False,
            ttl=settings.APIKEY_CACHE_SECONDS,
        )
    except StoreUnavailable:
        return build()
    return result.snapshot


def snapshot_accepts(snapshot: dict | None, raw: str) -> bool:
    """Constant-time digest comparison plus revocation and expiry."""
    if snapshot is None or snapshot.get("kind") not in ("key", "pat"):
        return False
    return hmac.compare_digest(snapshot["digest"], credentials.digest(raw)) and snapshots.is_valid(snapshot)
