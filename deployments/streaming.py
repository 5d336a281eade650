"""A remote follow (deployments.remote) as Server-Sent Events, for ASGI and WSGI servers.

The SSH side is blocking (paramiko), so under ASGI a reader thread runs the follow and hands its
lines to the event loop in batches: the loop never blocks, a slow client makes the reader wait
once BUFFER_LINES lines are waiting (memory stays bounded), and when the client leaves Django
closes the stream, which sets the follow's stop event: the reader's follow returns within
remote.POLL_SECONDS and closes its SSH channel. Events: `log` `{"line"}` per line, then `end`
`{"reason", "lines"}` (a reason of remote.FOLLOW_ENDS, or "access revoked") or `error`
`{"message"}`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Iterator

from asgiref.sync import sync_to_async
from django.db import connection

from deployments.remote import RemoteError

logger = logging.getLogger("groundstation.deployments")

KEEPALIVE_SECONDS = 15
ACCESS_RECHECK_SECONDS = 2.0  # as orchestration's run-log stream
BUFFER_LINES = 10_000  # read ahead of a slow client, then the reader waits
BATCH_LINES = 1_000  # lines per chunk written to the client

Follow = Callable[[threading.Event], Generator[str, None, str]]


def sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _ending(kind: str, detail: str, lines: int) -> str:
    if kind == "error":
        return sse("error", {"message": detail})
    return sse("end", {"reason": detail, "lines": lines})


def _run(follow: Generator[str, None, str], on_line: Callable[[str], bool]) -> tuple[str, str]:
    """Drive a follow to its end; ("end", reason) or ("error", message). `on_line` False stops."""
    try:
        while True:
            if not on_line(next(follow)):
                return "end", "stopped"
    except StopIteration as end:
        return "end", end.value
    except RemoteError as exc:
        return "error", str(exc)
    except Exception:
        logger.exception("log follow failed")
        return "error", "the log stream failed"
    finally:
        follow.close()


def follow_events(make: Follow) -> Iterator[str]:
    """SSE for WSGI servers: each line as it comes (the WSGI server closes the generator when the
    client leaves, which closes the follow)."""
    stop = threading.Event()
    follow = make(stop)
    sent = 0
    try:
        while True:
            try:
                line = next(follow)
            except StopIteration as end:
                yield _ending("end", end.value, sent)
                return
            except RemoteError as exc:
                yield _ending("error", str(exc), sent)
                return
            sent += 1
            yield sse("log", {"line": line})
    finally:
        stop.set()
        follow.close()


class _Reader(threading.Thread):
    """Runs one follow in its own thread; lines wait in a bounded deque for the event loop."""

    def __init__(self, make: Follow, loop: asyncio.AbstractEventLoop, wake: asyncio.Event):
        super().__init__(daemon=True, name="log-follow")
        self.make, self.loop, self.wake = make, loop, wake
        self.stop = threading.Event()
        self.lines: deque[str] = deque()
        self.room = threading.Condition()
        self.ending: tuple[str, str] | None = None

    def _wake(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.wake.set)
        except RuntimeError:  # the loop is gone: nobody listens any more
            self.stop.set()

    def _push(self, line: str) -> bool:
        with self.room:
            while len(self.lines) >= BUFFER_LINES and not self.stop.is_set():
                self.room.wait(0.5)
            if self.stop.is_set():
                return False
            was_empty = not self.lines
            self.lines.append(line)
        if was_empty:
            self._wake()
        return True

    def run(self) -> None:
        ending = _run(self.make(self.stop), self._push)
        with self.room:
            self.ending = ending
        self._wake()

    def take(self) -> tuple[list[str], tuple[str, str] | None]:
        """Up to BATCH_LINES waiting lines, and the ending once every line was taken."""
        with self.room:
            batch = [self.lines.popleft() for _ in range(min(BATCH_LINES, len(self.lines)))]
            self.room.notify()
            return batch, (self.ending if not self.lines else None)

    def cancel(self) -> None:
        self.stop.set()
        with self.room:
            self.room.notify()


def _allowed(still_allowed: Callable[[], bool]) -> bool:
    """The access re-check, giving its database connection back (a stream lives long)."""
    try:
        return still_allowed()
    finally:
        if not connection.in_atomic_block:
            connection.close()


async def afollow_events(make: Follow, still_allowed: Callable[[], bool] | None = None) -> AsyncIterator[str]:
    """SSE for ASGI servers (Django would buffer a sync iterator whole there). `still_allowed`
    is asked every ACCESS_RECHECK_SECONDS: a revoked key or a removed member ends the stream."""
    wake = asyncio.Event()
    reader = _Reader(make, asyncio.get_running_loop(), wake)
    reader.start()
    sent = 0
    last_sent = last_check = time.monotonic()
    try:
        while True:
            wake.clear()
            batch, ending = reader.take()
            if batch:
                sent += len(batch)
                last_sent = time.monotonic()
                yield "".join(sse("log", {"line": line}) for line in batch)
            if ending is not None:
                yield _ending(*ending, sent)
                return
            if still_allowed is not None and time.monotonic() - last_check >= ACCESS_RECHECK_SECONDS:
                last_check = time.monotonic()
                if not await sync_to_async(_allowed, thread_sensitive=False)(still_allowed):
                    yield _ending("end", "access revoked", sent)
                    return
            if not batch:
                try:
                    await asyncio.wait_for(wake.wait(), ACCESS_RECHECK_SECONDS)
                except TimeoutError:
                    if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
                        last_sent = time.monotonic()
                        yield ": keep-alive\n\n"
    finally:
        reader.cancel()  # the client left, or the stream ended: the follow closes its channel
