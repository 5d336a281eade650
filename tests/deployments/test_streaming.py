"""deployments.streaming: a real remote follow as SSE, ended by its bounds or by the consumer."""
import asyncio
import json
import threading

from deployments import remote, streaming
from tests.deployments.test_remote import remote_processes, wait_until_gone


def parse(chunks: list[str]) -> list[tuple[str, dict]]:
    events = []
    for block in "".join(chunks).split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def tail(sshd, path, **bounds):
    limits = {"lines": 10, "max_lines": 100_000, "max_bytes": 1 << 24, "max_seconds": 20, "idle_seconds": 5,
              **bounds}
    return lambda stop: remote.follow(sshd.target(), str(path), stop=stop, **limits)


async def collect(stream, at_most: int | None = None) -> list[str]:
    chunks = []
    async for chunk in stream:
        chunks.append(chunk)
        if at_most is not None and len(parse(chunks)) >= at_most:
            break
    return chunks


def test_the_async_stream_sends_every_line_then_why_it_ended(sshd, workdir):
    log = workdir / "big.log"
    log.write_text("".join(f"line {n}\n" for n in range(25_000)))
    events = parse(asyncio.run(collect(streaming.afollow_events(tail(sshd, log, lines=25_000, max_lines=25_000)))))
    assert [data["line"] for kind, data in events if kind == "log"] == [f"line {n}" for n in range(25_000)]
    assert events[-1] == ("end", {"reason": "max_lines", "lines": 25_000})


def test_the_async_stream_reports_a_remote_failure(sshd):
    def failing(stop):
        return remote.follow_command(sshd.target(), ["sh", "-c", "echo gone >&2; exit 4"], max_lines=10,
                                     max_bytes=100, max_seconds=5, idle_seconds=5, stop=stop)

    events = parse(asyncio.run(collect(streaming.afollow_events(failing))))
    assert events[-1][0] == "error" and "exited with status 4: gone" in events[-1][1]["message"]


def test_leaving_the_async_stream_closes_the_remote_tail(sshd, workdir):
    log = workdir / "leave.log"
    log.write_text("a\nb\nc\n")

    async def leave_early():
        stream = streaming.afollow_events(tail(sshd, log, idle_seconds=60, max_seconds=60))
        chunks = await collect(stream, at_most=1)
        assert remote_processes(f"tail -n 10 -F -- {log}")
        await stream.aclose()  # what Django does when the client disconnects
        return chunks

    assert parse(asyncio.run(leave_early()))[0] == ("log", {"line": "a"})
    assert wait_until_gone(f"tail -n 10 -F -- {log}") == []


def test_the_sync_stream_sends_lines_and_the_end(sshd, workdir):
    log = workdir / "small.log"
    log.write_text("x\ny\n")
    events = parse(list(streaming.follow_events(tail(sshd, log, idle_seconds=1))))
    assert events == [("log", {"line": "x"}), ("log", {"line": "y"}), ("end", {"reason": "idle_seconds", "lines": 2})]


def test_a_revoked_access_ends_the_async_stream_and_its_tail(sshd, workdir, monkeypatch):
    monkeypatch.setattr(streaming, "ACCESS_RECHECK_SECONDS", 0.2)
    log = workdir / "revoked.log"
    log.write_text("a\n")
    revoked = threading.Event()

    async def revoke_after_the_first_line():
        chunks = []
        async for chunk in streaming.afollow_events(tail(sshd, log, idle_seconds=60, max_seconds=60),
                                                    still_allowed=lambda: not revoked.is_set()):
            chunks.append(chunk)
            revoked.set()
        return chunks

    events = parse(asyncio.run(revoke_after_the_first_line()))
    assert events == [("log", {"line": "a"}), ("end", {"reason": "access revoked", "lines": 1})]
    assert wait_until_gone(f"tail -n 10 -F -- {log}") == []
