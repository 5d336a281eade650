"""The one guard for every request the platform makes on a user's behalf.

Health checks, the orchestration `http.request` satellite and alert webhooks all go through
`request()` / `request_sync()` / `tcp_connect()`, so an attacker-supplied URL can never reach
the cloud metadata service, link-local or (unless `OUTBOUND_ALLOW_PRIVATE`) internal networks.

How it holds:
- the host is resolved once and *every* resolved address is vetted; IP literals written in
  legacy forms (decimal `2130706433`, octal `0177.0.0.1`, hex, short `127.1`) and IPv4-mapped
  IPv6 (`::ffff:127.0.0.1`) are normalised before vetting;
- the connection goes to the vetted address itself (a custom httpcore network backend), so a
  DNS answer that changes between check and connect (rebinding) cannot redirect it, while the
  URL keeps its host name for the Host header, SNI and certificate verification;
- redirects are followed by hand, each hop re-vetted the same way; proxies from the
  environment are ignored; the body is capped at `max_bytes` and the whole exchange at `timeout`.
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
from urllib.parse import urljoin

import httpcore
import httpx
from django.conf import settings
from httpcore._backends.auto import AutoBackend

ALLOWED_SCHEMES = ("http", "https")
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
USER_AGENT = "Groundstation/1.0 (+outbound)"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Refused always: link-local (cloud metadata lives at 169.254.169.254), "this network",
# multicast and everything reserved. `fd00:ec2::254` (AWS IMDS over IPv6) is inside fc00::/7
# and therefore private, but it is metadata, so it is listed here too.
ALWAYS_REFUSED = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "169.254.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "fe80::/10",
        "ff00::/8",
        "fd00:ec2::254/128",
    )
)
# Refused unless settings.OUTBOUND_ALLOW_PRIVATE: loopback, RFC 1918, ULA, carrier-grade NAT.
PRIVATE = tuple(
    ipaddress.ip_network(net)
    for net in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "::1/128",
        "fc00::/7",
    )
)


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
def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host string denotes by itself, or None if it is a name.

    Accepts what resolvers accept: dotted/bracketed IPv6, and IPv4 in the legacy inet_aton
    forms (decimal, octal, hex, fewer than four parts), so none of them can slip past vetting.
    """
    host = host.strip().strip("[]")
    if not host:
        return None
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if all(part and _is_inet_aton_number(part) for part in host.split(".")) and host.count(".") <= 3:
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _is_inet_aton_number(part: str) -> bool:
    lowered = part.lower()
    if lowered.startswith("0x"):
        return len(lowered) > 2 and all(c in "0123456789abcdef" for c in lowered[2:])
    return lowered.isdigit()


def normalise(address: IPAddress) -> IPAddress:
    """IPv4-mapped / -compatible IPv6 addresses are vetted as the IPv4 address they carry."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        # ::a.b.c.d (deprecated IPv4-compatible); ::1 and :: are themselves, not IPv4.
        if int(address) >> 32 == 0 and int(address) > 1:
            return ipaddress.IPv4Address(int(address))
    return address


def refusal_reason(address: IPAddress, *, allow_private: bool | None = None) -> str | None:
    """Why this address may not be contacted, or None when it may."""
    if allow_private is None:
        allow_private = settings.OUTBOUND_ALLOW_PRIVATE
    address = normalise(address)
    if any(address in net for net in ALWAYS_REFUSED if net.version == address.version):
        return f"{address} is a link-local, metadata, multicast or reserved address"
    if address.is_multicast or address.is_reserved or address.is_unspecified or address.is_link_local:
        return f"{address} is a link-local, multicast or reserved address"
    if any(address in net for net in PRIVATE if net.version == address.version):
        return None if allow_private else f"{address} is a loopback or private address"
    if not address.is_global:
        # Documentation, benchmarking and other special-purpose ranges: never a real target.
        return None if allow_private and address.is_private else f"{address} is not a public address"
    return None


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


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore backend that resolves and vets the host, then connects to the vetted address."""

    def __init__(self) -> None:
        self._inner = AutoBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host, port, timeout=timeout or 10.0)
        last_error: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            _verify_peer(stream, addresses)
            return stream
        raise last_error or httpcore.ConnectError(f"cannot connect to {host}:{port}")

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise OutboundBlocked("unix sockets are not reachable from outbound requests")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _verify_peer(stream, allowed: list[IPAddress]) -> None:
    """Belt and braces: the socket's peer must be an address we vetted."""
    peer = stream.get_extra_info("server_addr")
    if peer is None:
        return
    address = normalise(ipaddress.ip_address(str(peer[0]).split("%", 1)[0]))
    if address not in allowed:
        raise OutboundBlocked(f"connected to {address}, which was not the vetted address")


# --- HTTP -----------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # Building a context loads the CA bundle (~10 ms); do it once per process.
    return httpx.create_ssl_context(trust_env=False)


class GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, *, keepalive: bool = True, max_connections: int | None = None) -> None:
        super().__init__(verify=_ssl_context(), trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=None if keepalive else 0,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(),
        )


def guarded_client(*, keepalive: bool = True, max_connections: int | None = None) -> httpx.AsyncClient:
    """An AsyncClient whose every connection is vetted; share one across many `request()` calls.

    `keepalive=False` makes each request open its own connection (health checks want to
    measure a fresh connect, not a pooled socket).
    """
    return httpx.AsyncClient(
        transport=GuardedTransport(keepalive=keepalive, max_connections=max_connections),
        trust_env=False,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


def check_url(url: str) -> httpx.URL:
    """Parse and refuse anything but absolute http(s) URLs with a host."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise OutboundBlocked(f"invalid URL: {exc}") from exc
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise OutboundBlocked(f"scheme {parsed.scheme or '(none)'!r} is not allowed; use http or https")
    if not parsed.host:
        raise OutboundBlocked("the URL has no host")
    if parsed.userinfo:
        raise OutboundBlocked("credentials in the URL are not allowed; send them as a header")
    return parsed


async def request(
    method: str,
    url: str,
    *,
    headers: dict | None = None,
    content: bytes | None = None,
    timeout: float = 10.0,
    max_bytes: int = 1_000_000,
    follow_redirects: int = 3,
    client: httpx.AsyncClient | None = None,
) -> OutboundResponse:
    """Make one guarded HTTP request. Raises OutboundBlocked or OutboundError, never httpx's.

    `timeout` bounds the whole exchange including redirects; pass a `guarded_client()` as
    `client` to share connections/TLS setup across many calls.
    """
    started = time.perf_counter()
    owned = client is None
    client = client or guarded_client()
    try:
        exchange = _exchange(
            client, method.upper(), url, headers or {}, content, timeout, max_bytes, follow_redirects, started
        )
        return await asyncio.wait_for(exchange, timeout)
    except TimeoutError as exc:
        raise OutboundError(f"timed out after {timeout:g}s") from exc
    finally:
        if owned:
            await client.aclose()


async def _exchange(client, method, url, headers, content, timeout, max_bytes, hops_left, started) -> OutboundResponse:
    current = check_url(url)
    while True:
        try:
            async with client.stream(
                method, current, headers=headers, content=content, timeout=httpx.Timeout(timeout)
            ) as response:
                location = response.headers.get("location")
                if response.status_code in REDIRECT_STATUSES and location and hops_left > 0:
                    hops_left -= 1
                    current = check_url(urljoin(str(current), location))
                    if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                        method, content = "GET", None
                    continue
                body, truncated = await _read_capped(response, max_bytes)
                return OutboundResponse(
                    status=response.status_code,
                    headers=dict(response.headers),
                    body=body,
                    elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
                    truncated=truncated,
                    url=str(current),
                )
        except httpx.TimeoutException as exc:
            raise OutboundError(f"timed out: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise OutboundError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
        except ssl.SSLError as exc:
            raise OutboundError(f"TLS error: {exc}") from exc
        except OSError as exc:
            raise OutboundError(f"{type(exc).__name__}: {exc}") from exc


async def _read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        if size + len(chunk) > max_bytes:
            chunks.append(chunk[: max_bytes - size])
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


def request_sync(
    method: str,
    url: str,
    *,
    headers: dict | None = None,
    content: bytes | None = None,
    timeout: float = 10.0,
    max_bytes: int = 1_000_000,
    follow_redirects: int = 3,
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
        )
    )


def run_sync(coroutine):
    """Run a coroutine to completion from synchronous code, even if this thread runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Called from a thread that already runs a loop: run ours in a helper thread.
    outcome: dict = {}

    def runner() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine)
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
