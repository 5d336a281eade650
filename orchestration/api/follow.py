"""A run's logs and status as Server-Sent Events: what `GET /runs/{id}/logs` streams under
`Accept: text/event-stream`, one implementation for WSGI and ASGI servers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator

from asgiref.sync import sync_to_async
from django.db import connection
from rest_framework.renderers import BaseRenderer

from orchestration import selectors
from orchestration.api.serializers import StepLogSerializer
from orchestration.models import TERMINAL_RUN_STATUSES, Run

SSE_POLL_SECONDS = 0.5
SSE_KEEPALIVE_SECONDS = 15
SSE_MAX_SECONDS = 3600
# A stream also ends after this long without a log line or status change, and after this many
# bytes, so a stuck run or a flood of logs cannot hold a server slot or a buffer indefinitely;
# the client reconnects with Last-Event-ID and misses nothing.
SSE_IDLE_SECONDS = 300
SSE_MAX_BYTES = 8 * 1024 * 1024
# How often a stream re-checks the credential it was opened with (against the database): a
# revoked key, a removed member or a suspended tenant ends it within this time.
SSE_ACCESS_RECHECK_SECONDS = 2.0


class EventStreamRenderer(BaseRenderer):
    """Lets `Accept: text/event-stream` through content negotiation; the view streams itself."""

    media_type = "text/event-stream"
    format = "event-stream"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


def _sse(event: str, data: dict, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


class RunFollower:
    """One poll of a run for SSE: log lines after the last one sent, status changes, the end."""

    def __init__(self, run_id, after_id: int = 0, still_allowed: Callable[[], bool] = lambda: True):
        self.run_id = run_id
        self.after_id = after_id
        self.still_allowed = still_allowed
        self.last_status = None
        self.started = self.last_beat = self.last_event = self.last_access_check = time.monotonic()
        self.sent_bytes = 0

    def poll(self) -> tuple[list[str], bool, bool]:
        """(events, finished, more lines pending)."""
        if time.monotonic() - self.last_access_check >= SSE_ACCESS_RECHECK_SECONDS:
            self.last_access_check = time.monotonic()
            if not self.still_allowed():
                revoked = {"run_id": str(self.run_id), "status": None, "reason": "access revoked"}
                return [_sse("end", revoked)], True, False
        events = []
        # The status first, then the logs: a run's last log line commits with its final status,
        # so a terminal status read before the logs guarantees that line is among them.
        state = Run.objects.filter(pk=self.run_id).values_list("status", flat=True).first()
        logs = list(selectors.step_log_list(run=self.run_id, after_id=self.after_id)[:500])
        for log in logs:
            self.after_id = log.id
            events.append(_sse("log", StepLogSerializer(log).data, log.id))
        if state != self.last_status and state is not None:
            self.last_status = state
            events.append(_sse("status", {"run_id": str(self.run_id), "status": state}))
        backlog = len(logs) == 500
        if state is None or (state in TERMINAL_RUN_STATUSES and not backlog):
            events.append(_sse("end", {"run_id": str(self.run_id), "status": state}))
            return events, True, False
        now = time.monotonic()
        if events:
            self.last_event = now
            self.sent_bytes += sum(len(event) for event in events)
        if (
            now - self.started > SSE_MAX_SECONDS
            or now - self.last_event > SSE_IDLE_SECONDS
            or self.sent_bytes > SSE_MAX_BYTES
        ):
            return events, True, False  # the client reconnects with Last-Event-ID
        if now - self.last_beat > SSE_KEEPALIVE_SECONDS:
            self.last_beat = now
            events.append(": keep-alive\n\n")
        return events, False, backlog

    def poll_and_release(self) -> tuple[list[str], bool, bool]:
        """A poll that gives its database connection back afterwards: a stream lives for up to
        an hour and would otherwise hold a connection all that time (10 streams, 10
        connections). Never inside a caller's transaction (tests)."""
        try:
            return self.poll()
        finally:
            if not connection.in_atomic_block:
                connection.close()


def follow_run(run_id, after_id: int = 0, still_allowed: Callable[[], bool] = lambda: True) -> Iterator[str]:
    """SSE stream for WSGI servers."""
    follower = RunFollower(run_id, after_id, still_allowed)
    while True:
        events, finished, backlog = follower.poll_and_release()
        yield from events
        if finished:
            return
        if not backlog:
            time.sleep(SSE_POLL_SECONDS)


async def afollow_run(run_id, after_id: int = 0, still_allowed: Callable[[], bool] = lambda: True
                      ) -> AsyncIterator[str]:
    """SSE stream for ASGI servers: a sync iterator would be buffered whole by Django there."""
    follower = RunFollower(run_id, after_id, still_allowed)
    while True:
        events, finished, backlog = await sync_to_async(follower.poll_and_release)()
        for event in events:
            yield event
        if finished:
            return
        if not backlog:
            await asyncio.sleep(SSE_POLL_SECONDS)
