"""Commands on a deploy host over SSH (paramiko): pinned host keys, argv only, every wait bounded.

- A command is an argv list, joined with `shlex.join` (and `cd -- <dir> &&` before it, quoted the
  same way); no shell string is ever built from input, so `;`, `$(…)`, quotes, spaces and
  newlines stay inside their one argument.
- The host key is compared with the pin right after the key exchange, before authentication, so a
  mismatch fails before any command (`HostKeyMismatch` shows both SHA256 fingerprints). Only the
  pinned key's type is offered in the negotiation, so a host with several keys shows that one.
- Waits are bounded: TCP connect, banner, key exchange and authentication by `connect_timeout`;
  the command by `timeout` on both ends — the client stops waiting, and the remote command runs
  under coreutils' `timeout -k`, which kills its whole process group, so a command cut short
  leaves nothing running even when the connection is gone (sshd cannot signal a root session's
  processes: "session signalling requires privilege separation").
- Output is capped: each stream keeps its last `max_output_bytes` (where errors are), the rest is
  read and dropped and `truncated` says so.

paramiko rather than asyncssh: the callers (Celery workers running orchestration steps) are
synchronous, and paramiko's Transport lets the host key be checked between the key exchange and
authentication in plain sequential code, with a timeout on each phase and an explicit
`Channel.close()`; the async web side runs `follow` in a thread (deployments/streams.py).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
import select
import shlex
import socket
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

CONNECT_TIMEOUT_SECONDS = 10.0
KILL_AFTER_SECONDS = 5  # the remote `timeout -k`: TERM first, KILL this much later
GRACE_SECONDS = 2.0  # the client waits this much past the remote timer for its answer
CHUNK = 32768
POLL_SECONDS = 0.2
# Why a follow ended: its return value.
FOLLOW_ENDS = ("max_lines", "max_bytes", "max_seconds", "idle_seconds", "stopped", "exited")
# A pinned key type → the host key algorithms that present it.
KEY_ALGORITHMS = {
    "ssh-ed25519": ("ssh-ed25519",),
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256"),  # never SHA-1 signatures
    "ecdsa-sha2-nistp256": ("ecdsa-sha2-nistp256",),
    "ecdsa-sha2-nistp384": ("ecdsa-sha2-nistp384",),
    "ecdsa-sha2-nistp521": ("ecdsa-sha2-nistp521",),
}


class RemoteError(Exception):
    """Anything that kept a remote command from running to its end."""


class HostKeyMismatch(RemoteError):
    """The host presented a key other than the pinned one; nothing was sent to it."""


class RemoteTimeout(RemoteError):
    """The command (or a connection phase) took longer than allowed; it was stopped."""

    def __init__(self, message: str, partial: RemoteResult | None = None):
        super().__init__(message)
        self.partial = partial  # the output read before the deadline, if a command had started


class RemoteUnreachable(RemoteError):
    """No SSH conversation could be had with the host (refused, no route, no answer, not SSH)."""


class RemoteAuthFailed(RemoteError):
    """The host refused the deploy key for this user."""


class RemotePathRefused(RemoteError):
    """A path does not exist on the host, or resolves outside the directory it must stay in."""


@dataclass(frozen=True)
class SSHTarget:
    address: str
    port: int
    username: str
    private_key_openssh: str
    host_key: str  # the pin: an OpenSSH public key line, "ssh-ed25519 AAAA…" (a comment may follow)
    trust_on_first_use: bool = False  # with no pin, accept the host's key (RemoteResult.host_key)


@dataclass(frozen=True)
class RemoteResult:
    exit_status: int
    stdout: str
    stderr: str
    truncated: bool
    duration_ms: int
    host_key: str = ""  # the key the host presented, "type base64"


def fingerprint(key_blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a public key blob."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key_blob).digest()).decode().rstrip("=")


def parse_public_key(line: str) -> tuple[str, bytes]:
    """(key type, key blob) of an OpenSSH public key line; ValueError if it is not one."""
    parts = (line or "").split()
    if len(parts) < 2 or parts[0] not in KEY_ALGORITHMS:
        raise ValueError(f"not an OpenSSH public key line of a known type ({', '.join(KEY_ALGORITHMS)})")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except binascii.Error as exc:
        raise ValueError("the key is not valid base64") from exc
    if paramiko.Message(blob).get_text() != parts[0]:
        raise ValueError("the key's type does not match its data")
    return parts[0], blob


def load_private_key(text: str) -> paramiko.PKey:
    """A paramiko key from an OpenSSH (or PEM) private key text, unencrypted."""
    data = (text or "").encode()
    try:
        try:
            loaded = serialization.load_ssh_private_key(data, password=None)
        except ValueError:
            loaded = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise RemoteError("the deploy key could not be read (an unencrypted OpenSSH private key is needed)") from exc
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        return paramiko.Ed25519Key.from_private_key(io.StringIO(text))
    if isinstance(loaded, rsa.RSAPrivateKey):
        return paramiko.RSAKey(key=loaded)
    if isinstance(loaded, ec.EllipticCurvePrivateKey):
        return paramiko.ECDSAKey(vals=(loaded, loaded.public_key()))
    raise RemoteError("the deploy key's type is not supported (ed25519, RSA or ECDSA)")


def command_line(argv: list[str], *, cwd: str | None = None, limit_seconds: float | None = None) -> str:
    """The one command string sent: argv quoted by shlex.join, optionally under `timeout`, in `cwd`."""
    if not isinstance(argv, list | tuple) or not argv or not all(isinstance(arg, str) for arg in argv):
        raise ValueError("argv must be a non-empty list of strings")
    if any("\x00" in arg for arg in argv) or (cwd is not None and "\x00" in cwd):
        raise ValueError("arguments may not contain NUL")
    if limit_seconds is not None:
        argv = ["timeout", "-k", str(KILL_AFTER_SECONDS), str(max(1, math.ceil(limit_seconds))), *argv]
    line = shlex.join(argv)
    return line if cwd is None else f"cd -- {shlex.quote(cwd)} && {line}"


def _connect(target: SSHTarget, timeout: float) -> tuple[paramiko.Transport, str]:
    """An authenticated transport to a host whose key matched the pin, and that key's line."""
    pinned = None
    if target.host_key or not target.trust_on_first_use:
        try:
            pinned = parse_public_key(target.host_key)
        except ValueError as exc:
            raise HostKeyMismatch(f"the host key pin is not usable: {exc}") from exc
    where = f"{target.address}:{target.port}"
    try:
        sock = socket.create_connection((target.address, target.port), timeout=timeout)
    except TimeoutError as exc:
        raise RemoteUnreachable(f"{where} did not answer within {timeout:g}s") from exc
    except OSError as exc:
        raise RemoteUnreachable(f"cannot reach {where}: {exc.strerror or exc}") from exc
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = timeout
        if pinned is not None:
            transport.get_security_options().key_types = KEY_ALGORITHMS[pinned[0]]
        try:
            transport.start_client(timeout=timeout)
            presented = transport.get_remote_server_key()  # "No existing session" when it timed out
        except paramiko.IncompatiblePeer as exc:
            raise HostKeyMismatch(
                f"the host key did not match the pin: {where} offers no {pinned[0]} host key "
                f"(pinned {fingerprint(pinned[1])})"
            ) from exc
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise RemoteUnreachable(f"no SSH session with {where} within {timeout:g}s: {exc}") from exc
        if pinned is not None and presented.asbytes() != pinned[1]:
            raise HostKeyMismatch(
                f"the host key did not match the pin: {where} presented {presented.get_name()} "
                f"{fingerprint(presented.asbytes())}, pinned {pinned[0]} {fingerprint(pinned[1])}"
            )
        try:
            transport.auth_publickey(target.username, load_private_key(target.private_key_openssh))
        except paramiko.AuthenticationException as exc:
            raise RemoteAuthFailed(
                f"{where} refused the deploy key for user {target.username!r} (is its public key in authorized_keys?)"
            ) from exc
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise RemoteUnreachable(f"authentication with {where} did not complete: {exc}") from exc
        return transport, f"{presented.get_name()} {presented.get_base64()}"
    except BaseException:
        transport.close()
        raise


def scan_host_key(address: str, port: int, *, timeout: float = CONNECT_TIMEOUT_SECONDS) -> str:
    """The host key a host presents ("type base64"), for an operator to pin; nothing is sent."""
    sock = None
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
        transport = paramiko.Transport(sock)
        try:
            transport.banner_timeout = transport.handshake_timeout = timeout
            transport.start_client(timeout=timeout)
            key = transport.get_remote_server_key()
            return f"{key.get_name()} {key.get_base64()}"
        finally:
            transport.close()
    except (OSError, paramiko.SSHException, EOFError) as exc:
        raise RemoteUnreachable(f"no SSH host key from {address}:{port}: {exc}") from exc
    finally:
        if sock is not None:
            sock.close()


class _Tail:
    """The last `cap` bytes of a stream."""

    def __init__(self, cap: int):
        self.cap, self.data, self.dropped = max(0, cap), bytearray(), False

    def feed(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.cap:
            del self.data[: len(self.data) - self.cap]
            self.dropped = True

    def text(self) -> str:
        return self.data.decode(errors="replace")


def _open(transport: paramiko.Transport, command: str, timeout: float) -> paramiko.Channel:
    try:
        channel = transport.open_session(timeout=timeout)
        channel.exec_command(command)
        channel.shutdown_write()  # no input: a command that reads stdin sees its end at once
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise RemoteUnreachable(f"the host closed the session: {exc}") from exc
    return channel


def run(
    target: SSHTarget,
    argv: list[str],
    *,
    cwd: str | None = None,
    timeout: float,
    max_output_bytes: int,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> RemoteResult:
    """Run argv on the host (in `cwd`), wait for its end, and return its status and output."""
    command = command_line(argv, cwd=cwd, limit_seconds=timeout)
    started = time.monotonic()
    transport, host_key = _connect(target, min(connect_timeout, timeout + GRACE_SECONDS))
    out, err = _Tail(max_output_bytes), _Tail(max_output_bytes)

    def result(status: int) -> RemoteResult:
        return RemoteResult(status, out.text(), err.text(), out.dropped or err.dropped,
                            int((time.monotonic() - started) * 1000), host_key)

    try:
        channel = _open(transport, command, connect_timeout)
        ran_from = time.monotonic()
        deadline = ran_from + timeout + GRACE_SECONDS
        while True:
            if channel.recv_ready():
                out.feed(channel.recv(CHUNK))
            elif channel.recv_stderr_ready():
                err.feed(channel.recv_stderr(CHUNK))
            elif channel.exit_status_ready() and (channel.eof_received or channel.closed):
                break
            elif channel.closed:
                raise RemoteUnreachable("the host closed the session before the command's exit status")
            elif time.monotonic() >= deadline:
                raise RemoteTimeout(f"{argv[0]} did not finish within {timeout:g}s", result(-1))
            else:
                select.select([channel], [], [], POLL_SECONDS)
        status = channel.recv_exit_status()
        # 124: `timeout` stopped it (137 once its KILL was needed), at the limit and not before.
        if status in (124, 137) and time.monotonic() - ran_from >= timeout:
            raise RemoteTimeout(f"{argv[0]} did not finish within {timeout:g}s and was stopped", result(status))
        return result(status)
    finally:
        transport.close()


def follow(
    target: SSHTarget,
    path: str,
    *,
    lines: int,
    max_lines: int,
    max_bytes: int,
    max_seconds: float,
    idle_seconds: float,
    stop: threading.Event | None = None,
) -> Generator[str, None, str]:
    """Lines of `tail -n lines -F -- path`: the last `lines`, then new ones as they are written."""
    return (yield from follow_command(
        target, ["tail", "-n", str(int(lines)), "-F", "--", path], max_lines=max_lines, max_bytes=max_bytes,
        max_seconds=max_seconds, idle_seconds=idle_seconds, stop=stop,
    ))


def follow_command(
    target: SSHTarget,
    argv: list[str],
    *,
    cwd: str | None = None,
    max_lines: int,
    max_bytes: int,
    max_seconds: float,
    idle_seconds: float,
    stop: threading.Event | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> Generator[str, None, str]:
    """Output lines of a long-running command, until it ends or a bound is hit: `max_lines` lines,
    `max_bytes` bytes, `max_seconds` in all, `idle_seconds` without a line, or `stop` is set (by
    another thread; seen within POLL_SECONDS). Returns why it ended (one of FOLLOW_ENDS). The
    channel and the connection are closed when it stops, also when the consumer closes the
    generator; the remote command then sees its output closed, and runs under `timeout`
    (max_seconds) in any case."""
    command = command_line(argv, cwd=cwd, limit_seconds=max_seconds + GRACE_SECONDS)
    transport, _ = _connect(target, connect_timeout)
    try:
        channel = _open(transport, command, connect_timeout)
        started = last = time.monotonic()
        count, sent, pending, err = 0, 0, bytearray(), _Tail(4096)
        while True:
            now = time.monotonic()
            if now - started >= max_seconds:
                return "max_seconds"
            if now - last >= idle_seconds:
                return "idle_seconds"
            if stop is not None and stop.is_set():
                return "stopped"
            if channel.recv_ready():
                pending += channel.recv(CHUNK)
                last = now
                while (end := pending.find(b"\n")) >= 0:
                    sent += end + 1
                    if sent > max_bytes:
                        return "max_bytes"
                    yield pending[:end].decode(errors="replace").removesuffix("\r")
                    del pending[: end + 1]
                    count += 1
                    if count >= max_lines:
                        return "max_lines"
                if sent + len(pending) > max_bytes:  # one line longer than what is left
                    return "max_bytes"
            elif channel.recv_stderr_ready():
                err.feed(channel.recv_stderr(CHUNK))
            elif channel.exit_status_ready() and (channel.eof_received or channel.closed):
                if pending and sent + len(pending) <= max_bytes:
                    yield pending.decode(errors="replace")
                status = channel.recv_exit_status()
                if status != 0:
                    raise RemoteError(f"{argv[0]} exited with status {status}: {err.text().strip()[-500:]}")
                return "exited"
            elif channel.closed:
                raise RemoteUnreachable("the host closed the session")
            else:
                select.select([channel], [], [], min(POLL_SECONDS, idle_seconds, max_seconds))
    finally:
        transport.close()


def resolve_inside(
    target: SSHTarget, directory: str, relative: str, *, timeout: float = 10.0
) -> str:
    """The real path on the host of `relative` inside `directory`, all symlinks resolved
    (`realpath -e`), or RemotePathRefused when it does not exist or is outside `directory`."""
    if not directory.startswith("/") or not relative or relative.startswith("/") or "\x00" in relative:
        raise RemotePathRefused("the path must be relative to an absolute directory")
    result = run(target, ["realpath", "-e", "-z", "--", directory, f"{directory.rstrip('/')}/{relative}"],
                 timeout=timeout, max_output_bytes=16384)
    resolved = result.stdout.split("\x00")
    if result.exit_status != 0 or len(resolved) != 3 or result.truncated:
        raise RemotePathRefused(f"{relative!r} does not exist in {directory!r} on the host")
    real_directory, real_path = resolved[0], resolved[1]
    if not real_path.startswith(real_directory.rstrip("/") + "/"):
        raise RemotePathRefused(f"{relative!r} resolves outside {directory!r} on the host")
    return real_path
