"""Which network addresses the outbound guard (`core/outbound.py`) may contact, and why not.

Pure functions of an address and `OUTBOUND_ALLOW_PRIVATE`, cached: the guard asks about the
same node addresses every sweep. Address literals in legacy forms and IPv6 addresses that carry
an IPv4 host (mapped, translated, 6to4, Teredo, NAT64) are judged as the host they lead to.
"""
from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache

from django.conf import settings

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


@lru_cache(maxsize=65536)  # pure; a sweep asks about the same node addresses every interval
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


# NAT64's well-known prefix: a gateway turns 64:ff9b::a.b.c.d into a connection to a.b.c.d.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def normalise(address: IPAddress) -> IPAddress:
    """IPv4-mapped, -translated and -compatible IPv6 addresses are the IPv4 host they carry."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        # ::ffff:0:a.b.c.d (IPv4-translated, RFC 2765).
        if int(address) >> 32 == 0xFFFF0000:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        # ::a.b.c.d (deprecated IPv4-compatible); ::1 and :: are themselves, not IPv4.
        if int(address) >> 32 == 0 and int(address) > 1:
            return ipaddress.IPv4Address(int(address))
    return address


def carried_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 hosts a tunnelling IPv6 address leads to (6to4, Teredo server and client, NAT64).

    A relay or gateway on the path delivers to them, so they are vetted like the address itself.
    """
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    carried = []
    if address.sixtofour is not None:
        carried.append(address.sixtofour)
    if address.teredo is not None:
        carried.extend(address.teredo)
    if address in NAT64:
        carried.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return carried


# The messages name the setting, so whoever reads a refused check or webhook knows the way out.
ALWAYS_SUFFIX = "; refused whatever OUTBOUND_ALLOW_PRIVATE says"
PRIVATE_SUFFIX = "; allowed only with OUTBOUND_ALLOW_PRIVATE=true"


def refusal_reason(address: IPAddress, *, allow_private: bool | None = None) -> str | None:
    """Why this address may not be contacted, or None when it may."""
    if allow_private is None:
        allow_private = settings.OUTBOUND_ALLOW_PRIVATE
    return _refusal_reason(address, bool(allow_private))


@lru_cache(maxsize=65536)  # a pure function of its arguments (the setting is one of them)
def _refusal_reason(address: IPAddress, allow_private: bool) -> str | None:
    address = normalise(address)
    for inner in carried_ipv4(address):
        reason = refusal_reason(inner, allow_private=allow_private)
        if reason:
            return f"{address} leads to {inner}: {reason}"
    if address in NAT64:
        return None  # its verdict is the carried address's (the prefix itself is "reserved")
    if any(address in net for net in ALWAYS_REFUSED if net.version == address.version):
        return f"{address} is a link-local, metadata, multicast or reserved address{ALWAYS_SUFFIX}"
    # Before the reserved test: ::1 lies in the reserved ::/8 but is plain loopback.
    if any(address in net for net in PRIVATE if net.version == address.version):
        return None if allow_private else f"{address} is a loopback or private address{PRIVATE_SUFFIX}"
    if address.is_multicast or address.is_reserved or address.is_unspecified or address.is_link_local:
        return f"{address} is a link-local, multicast or reserved address{ALWAYS_SUFFIX}"
    if not address.is_global:
        # Documentation, benchmarking and other special-purpose ranges: never a real target.
        if allow_private and address.is_private:
            return None
        return f"{address} is not a public address{PRIVATE_SUFFIX if address.is_private else ALWAYS_SUFFIX}"
    return None


# Names that stand for a fixed address whatever DNS says (RFC 6761 `localhost`; GCP's metadata
# service), so configuration naming them can be refused when it is written.
FIXED_NAMES = {"localhost": ipaddress.ip_address("127.0.0.1"),
               "metadata.google.internal": ipaddress.ip_address("169.254.169.254")}


