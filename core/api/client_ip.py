"""The caller's IP address, believing `X-Forwarded-For` only from configured trusted proxies.

`TRUSTED_PROXIES` lists the proxies' IPs or CIDRs. When the direct peer (`REMOTE_ADDR`) is one
of them, the forwarded chain is walked from the right and the first address that is not a
trusted proxy is the client; anything further left was written by the client and is ignored.
With no trusted proxies the header is never read, so a client cannot pick its own rate bucket.
"""
import ipaddress
from functools import lru_cache

from django.conf import settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted(address, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in networks)


def client_ip(request) -> str:
    """The client address for rate limits and logs (works on Django and DRF requests)."""
    meta = request.META
    peer = _parse(meta.get("REMOTE_ADDR", "") or "")
    if peer is None:
        return meta.get("REMOTE_ADDR", "") or "unknown"
    networks = _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ()) or ()))
    if not networks or not _trusted(peer, networks):
        return str(peer)
    forwarded = [part for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    for hop in reversed(forwarded):
        address = _parse(hop)
        if address is None:
            break  # a garbled hop: trust nothing further left of it
        if not _trusted(address, networks):
            return str(address)
    return str(peer)
