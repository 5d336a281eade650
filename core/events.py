"""One event publisher for every domain: `publish_on_commit(Event(...))`.

Domains publish what happened (a run's status, a node's status) without knowing how it
travels, so orchestration need not import monitoring to reach the live WebSocket. Events go
out only after the transaction commits, so listeners never see a state that is rolled back.

The transport is installed once at start-up by the app that owns the delivery
(`monitoring.apps` installs `monitoring.live.publish_many`: the channel layer with Redis, the
`LiveEvent` outbox on the embedded default, chosen by `LIVE_OUTBOX`). A transport is best
effort and never raises: a broken channel layer must not fail the request, check or run
that changed the status. With no transport installed (an app set without monitoring) events
are dropped — there is nobody to deliver them to.
"""
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import transaction

logger = logging.getLogger("groundstation.events")


@dataclass(frozen=True)
class Event:
    """`name` like "run.status"; `data` is JSON-safe; delivered to the tenant's listeners."""

    tenant_id: str
    name: str
    data: dict


Transport = Callable[[list[tuple]], None]  # takes [(tenant_id, name, data), …]
_transport: Transport | None = None


def transport_install(transport: Transport) -> None:
    global _transport
    _transport = transport


def publish(events: Sequence[Event]) -> None:
    """Deliver now (callers outside a transaction, e.g. a consumer); prefer the on-commit form."""
    if _transport is None or not events:
        return
    _transport([(event.tenant_id, event.name, event.data) for event in events])


def publish_on_commit(event: Event) -> None:
    transaction.on_commit(lambda: publish([event]))
