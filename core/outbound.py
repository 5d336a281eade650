"""The one guard for every request the platform makes on a user's behalf.

Health checks, the orchestration `http.request` satellite and alert webhooks all go through
`request()` / `request_sync()` / `tcp_connect()`, so an attacker-supplied URL can never reach
the cloud metadata service, link-local or (unless `OUTBOUND_ALLOW_PRIVATE`) internal networks.

How it holds:
- the host is resolved once and *every* resolved address is vetted; IP literals written in
  legacy forms (decimal `2130706433`, octal `0177.0.0.1`, hex, short `127.1`) and IPv4-mapped
  IPv6 (`::ffff:127.0.0.1`) are normalised before vetting;
- the socket is opened to the vetted address itself, so a DNS answer that changes between
  check and connect (rebinding) cannot move it, while the Host header, SNI and certificate
  verification keep the URL's host name; the peer address is checked again after connecting;
- redirects are followed by hand, each hop re-vetted the same way; a hop that changes scheme,
  host or port drops the credentials (`Authorization`, `Cookie`, `Proxy-Authorization` and the
  headers the caller names in `secret_headers`), as browsers do; proxy variables from the
  environment are never used; the body is capped at `max_bytes`, the whole exchange at `timeout`.

HTTP/1.1 is spoken with h11 over asyncio streams: one connection per request, no pool. That
keeps the pinning explicit and makes a check cost little more than its TCP round trips (the
poller runs thousands of them per sweep).
"""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

import certifi
import h11
import uvloop

from core.addresses import FIXED_NAMES, IPAddress, normalise, parse_ip_literal, refusal_reason

ALLOWED_SCHEMES = ("http", "https")
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# Set by the guard itself; a caller's values would break framing or the pinned destination.
HOP_HEADERS = {"host", "connection", "content-length", "transfer-encoding", "accept-encoding", "keep-alive", "te",
               "upgrade", "proxy-connection"}
USER_AGENT = "Groundstation/1.0 (+outbound)"
# Never sent to another origin than the one the caller addressed (a redirect may point anywhere).
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

class OutboundBlocked(Exception):
    """The destination (or a redirect hop) is a refused address or scheme."""


class OutboundError(Exception):
    """The request could not be completed: DNS failure, refused connection, timeout, TLS…"""


@dataclass
class OutboundResponse:
    status: int
    headers: dict
    body: bytes
    elapsed_ms: float
    truncated: bool
    url: str = ""  # the final URL after redirects


# --- Address vetting ------------------------------------------------------------------------
def destination_refusal(url: str, *, allow_private: bool | None = None) -> str | None:
    """Why the guard will refuse requests to `url`, judged without DNS, or None.

    For validating configuration when it is saved (alert channels): the URL's form, and its
    host when that is an address literal or a fixed name, are vetted by the same rules as a
    request; other names are resolved and vetted when a request is made.
    """
    try:
        target = check_url(url)
    except OutboundBlocked as exc:
        return str(exc)
    host = target.host.rstrip(".")
    address = parse_ip_literal(host)
    if address is None:
        address = FIXED_NAMES.get("localhost" if host.endswith(".localhost") else host)
    if address is None:
        return None
    return refusal_reason(address, allow_private=allow_private)


def vet(address: IPAddress) -> IPAddress:
    reason = refusal_reason(address)
    if reason:
        raise OutboundBlocked(reason)
    return normalise(address)


async def resolve(host: str, port: int, *, timeout: float) -> list[IPAddress]:
    """Every address the host stands for, each vetted; refuses if any one is refused.

    Refusing on *any* bad answer (not just the first) stops a name that resolves to a public
    and a private address from being used as a coin toss.
    """
    literal = parse_ip_literal(host)
    if literal is not None:
        return [vet(literal)]
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP), timeout
        )
    except TimeoutError as exc:
        raise OutboundError(f"resolving {host} timed out") from exc
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundError(f"cannot resolve {host}") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        vetted = vet(address)
        if vetted not in addresses:
            addresses.append(vetted)
    if not addresses:
        raise OutboundError(f"cannot resolve {host}")
    return addresses


async def _open(host: str, port: int, *, tls: bool, timeout: float):
    """Connect to a vetted address of `host` (TLS with SNI and certificate checks for `host`)."""
    addresses = await resolve(host, port, timeout=timeout)
    last_error: OSError | None = None
    for address in addresses:
        try:
            reader, writer = await asyncio.open_connection(
                str(address), port, ssl=_ssl_context() if tls else None, server_hostname=host if tls else None,
                limit=READ_CHUNK,
            )
        except ssl.SSLError as exc:
            raise OutboundError(f"TLS error with {host}: {exc.reason or exc}") from exc
        except OSError as exc:
            last_error = exc
            continue
        _verify_peer(writer, addresses)
        return reader, writer
    raise OutboundError(f"cannot connect to {host}:{port}: {last_error}")


def _verify_peer(writer: asyncio.StreamWriter, allowed: list[IPAddress]) -> None:
    """Belt and braces: the socket's peer must be an address we vetted."""
    peer = writer.get_extra_info("peername")
    if not peer:
        return
    address = normalise(ipaddress.ip_address(str(peer[0]).split("%", 1)[0]))
    if address not in allowed:
        writer.close()
        raise OutboundBlocked(f"connected to {address}, which was not the vetted address")


# --- HTTP -----------------------------------------------------------------------------------
READ_CHUNK = 64 * 1024


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # Building a context loads the CA bundle (~10 ms); do it once per process.
    return ssl.create_default_context(cafile=certifi.where())


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # lower-case, IDNA-encoded, IPv6 without brackets
    port: int
    target: str  # path and query
    url: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def check_url(url: str) -> _Target:
    """Parse and refuse anything but absolute http(s) URLs with a host and no credentials."""
    if not isinstance(url, str) or any(c in url for c in "\r\n\t ") or any(ord(c) < 32 for c in url):
        raise OutboundBlocked("invalid URL: it contains whitespace or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise OutboundBlocked(f"scheme {scheme or '(none)'!r} is not allowed; use http or https")
    if parts.username is not None or parts.password is not None:
        raise OutboundBlocked("credentials in the URL are not allowed; send them as a header")
    host = parts.hostname or ""
    if not host:
        raise OutboundBlocked("the URL has no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except (ValueError, UnicodeError) as exc:
        raise OutboundBlocked(f"invalid URL: {exc}") from exc
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(scheme=scheme, host=host, port=port, target=target, url=url)


async def request(
    method: str,
    url: str,
    *,
    headers: dict | None = None,
    content: bytes | None = None,
    timeout: float = 10.0,
    max_bytes: int = 1_000_000,
    follow_redirects: int = 3,
    secret_headers: Iterable[str] = (),
) -> OutboundResponse:
    """Make one guarded HTTP/1.1 request. Raises OutboundBlocked or OutboundError only.

    `timeout` bounds the whole exchange, redirects included. Bodies are sent and read as is
    (`Accept-Encoding: identity`), and reading stops at `max_bytes` (`truncated=True`).
    `secret_headers` names headers that, like `CREDENTIAL_HEADERS`, must not follow a redirect
    to another origin.
    """
    started = time.perf_counter()
    secret = CREDENTIAL_HEADERS | {name.lower() for name in secret_headers}
    try:
        async with asyncio.timeout(timeout):
            return await _exchange(method.upper(), url, dict(headers or {}), content, max_bytes, follow_redirects,
                                   started, timeout, secret)
    except TimeoutError as exc:
        raise OutboundError(f"timed out after {timeout:g}s") from exc


async def _exchange(method, url, headers, content, max_bytes, hops_left, started, timeout, secret) -> OutboundResponse:
    current = check_url(url)
    while True:
        status, response_headers, body, truncated = await _one_request(method, current, headers, content, max_bytes,
                                                                       timeout)
        location = response_headers.get("location")
        if status in REDIRECT_STATUSES and location and hops_left > 0:
            hops_left -= 1
            following = check_url(urljoin(current.url, location))
            if _origin(following) != _origin(current):
                headers = {name: value for name, value in headers.items() if name.lower() not in secret}
            current = following
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, content = "GET", None
            continue
        return OutboundResponse(
            status=status,
            headers=response_headers,
            body=body,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
            truncated=truncated,
            url=current.url,
        )


def _origin(target: _Target) -> tuple[str, str, int]:
    return target.scheme, target.host.lower(), target.port


async def _one_request(method, target: _Target, headers: dict, content, max_bytes, timeout):
    reader, writer = await _open(target.host, target.port, tls=target.scheme == "https", timeout=timeout)
    try:
        connection = h11.Connection(our_role=h11.CLIENT)
        sent = {k.lower() for k in headers}
        request_headers = [("Host", target.host_header)]
        request_headers += [(k, str(v)) for k, v in headers.items() if k.lower() not in HOP_HEADERS]
        if "user-agent" not in sent:
            request_headers.append(("User-Agent", USER_AGENT))
        request_headers += [("Accept-Encoding", "identity"), ("Connection", "close")]
        if content is not None:
            request_headers.append(("Content-Length", str(len(content))))
        try:
            writer.write(connection.send(h11.Request(method=method, target=target.target, headers=request_headers)))
            if content:
                writer.write(connection.send(h11.Data(data=content)))
            writer.write(connection.send(h11.EndOfMessage()))
        except h11.LocalProtocolError as exc:
            raise OutboundBlocked(f"invalid request: {exc}") from exc
        await writer.drain()
        return await _read_response(connection, reader, max_bytes)
    except h11.RemoteProtocolError as exc:
        raise OutboundError(f"invalid HTTP response: {exc}") from exc
    except ssl.SSLError as exc:
        raise OutboundError(f"TLS error: {exc.reason or exc}") from exc
    except OSError as exc:
        raise OutboundError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        writer.close()


async def _read_response(connection: h11.Connection, reader: asyncio.StreamReader, max_bytes: int):
    status, headers, chunks, size = 0, {}, [], 0
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(await reader.read(READ_CHUNK))
            continue
        if isinstance(event, h11.InformationalResponse):
            continue
        if isinstance(event, h11.Response):
            status = event.status_code
            for name, value in event.headers:
                key = name.decode("latin-1")  # h11 lower-cases names
                headers[key] = f"{headers[key]}, {value.decode('latin-1')}" if key in headers else value.decode(
                    "latin-1")
        elif isinstance(event, h11.Data):
            if size + len(event.data) > max_bytes:
                chunks.append(event.data[: max_bytes - size])
                return status, headers, b"".join(chunks), True
            chunks.append(event.data)
            size += len(event.data)
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            return status, headers, b"".join(chunks), False


def request_sync(
    method: str,
    url: str,
    *,
    headers: dict | None = None,
    content: bytes | None = None,
    timeout: float = 10.0,
    max_bytes: int = 1_000_000,
    follow_redirects: int = 3,
    secret_headers: Iterable[str] = (),
) -> OutboundResponse:
    """`request()` for synchronous code (views, Celery tasks): same guard, same rules."""
    return run_sync(
        request(
            method,
            url,
            headers=headers,
            content=content,
            timeout=timeout,
            max_bytes=max_bytes,
            follow_redirects=follow_redirects,
            secret_headers=secret_headers,
        )
    )


def _run(coroutine):
    # uvloop's C event loop: a check sweep spends most of its CPU in the loop's socket and
    # callback handling, which asyncio's own loop does in Python.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def run_sync(coroutine):
    """Run a coroutine to completion from synchronous code, even if this thread runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run(coroutine)
    # Called from a thread that already runs a loop: run ours in a helper thread.
    outcome: dict = {}

    def runner() -> None:
        try:
            outcome["value"] = _run(coroutine)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=runner, name="outbound-sync")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# --- TCP ------------------------------------------------------------------------------------
async def tcp_connect(host: str, port: int, *, timeout: float) -> float:
    """Open (and close) a TCP connection to a vetted address; returns the connect time in ms."""
    if not 0 < int(port) < 65536:
        raise OutboundBlocked(f"port {port} is out of range")
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            addresses = await resolve(host, port, timeout=timeout)
            last_error: OSError | None = None
            for address in addresses:
                try:
                    _reader, writer = await asyncio.open_connection(str(address), port)
                except OSError as exc:
                    last_error = exc
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                writer.close()
                with contextlib.suppress(OSError):  # the peer may reset a connection we are closing anyway
                    await writer.wait_closed()
                return round(elapsed, 2)
            raise OutboundError(f"cannot connect to {host}:{port}: {last_error}")
    except TimeoutError as exc:
        raise OutboundError(f"connecting to {host}:{port} timed out after {timeout:g}s") from exc


def tcp_connect_sync(host: str, port: int, *, timeout: float) -> float:
    return run_sync(tcp_connect(host, port, timeout=timeout))
