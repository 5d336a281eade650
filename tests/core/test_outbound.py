"""The outbound-request guard, against real local servers."""
import asyncio
import ipaddress

import pytest

from core import addresses, outbound
from tests.monitoring.servers import closed_port, http_server, tcp_listener


@pytest.fixture
def allow_private(settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True


@pytest.fixture
def server():
    with http_server() as srv:
        yield srv


def test_it_refuses_loopback_by_default_without_contacting_it(settings, server):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    with pytest.raises(outbound.OutboundBlocked, match="loopback or private"):
        outbound.request_sync("GET", server.url("/ok"))
    assert server.hits == []


def test_it_reaches_loopback_when_private_targets_are_allowed(allow_private, server):
    response = outbound.request_sync("GET", server.url("/ok"))
    assert response.status == 200
    assert response.body == b"hello from the test server"
    assert response.truncated is False
    assert response.elapsed_ms > 0


@pytest.mark.parametrize(
    "host",
    ["10.1.2.3", "172.16.0.9", "192.168.1.1", "100.64.0.1", "[::1]", "[fd12::1]", "localhost"],
)
def test_it_refuses_private_ranges_by_default(settings, host):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    with pytest.raises(outbound.OutboundBlocked):
        outbound.request_sync("GET", f"http://{host}:9/")


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",  # cloud metadata
        "[fe80::1]",
        "0.0.0.0",  # noqa: S104 - a target, not a bind address
        "[::ffff:169.254.169.254]",  # IPv4-mapped IPv6
        "2852039166",  # 169.254.169.254 as one decimal number
        "0251.0376.0251.0376",  # …in octal
        "0xa9fea9fe",  # …in hex
        "224.0.0.1",
        "[fd00:ec2::254]",
    ],
)
def test_it_refuses_link_local_and_metadata_even_when_private_is_allowed(allow_private, host):
    with pytest.raises(outbound.OutboundBlocked):
        outbound.request_sync("GET", f"http://{host}/latest/meta-data/")


@pytest.mark.parametrize("host", ["2130706433", "0177.0.0.1", "0x7f.0.0.1", "127.1", "[::ffff:127.0.0.1]"])
def test_it_normalises_encoded_loopback_before_vetting(settings, host):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    # Either the URL parser rejects the odd form or the vetted address is 127.0.0.1: never a request.
    with pytest.raises(outbound.OutboundBlocked, match="127.0.0.1|invalid URL"):
        outbound.request_sync("GET", f"http://{host}:9/")


def test_encoded_forms_parse_to_the_address_they_mean():
    assert addresses.parse_ip_literal("2130706433") == ipaddress.IPv4Address("127.0.0.1")
    assert addresses.parse_ip_literal("0177.0.0.1") == ipaddress.IPv4Address("127.0.0.1")
    assert addresses.parse_ip_literal("example.com") is None
    assert addresses.normalise(ipaddress.ip_address("::ffff:10.0.0.1")) == ipaddress.IPv4Address("10.0.0.1")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/", "gopher://x/", "//no-scheme", "http://"])
def test_it_refuses_other_schemes_and_hostless_urls(url):
    with pytest.raises(outbound.OutboundBlocked):
        outbound.request_sync("GET", url)


def test_it_refuses_a_redirect_to_a_metadata_address(allow_private, server):
    with pytest.raises(outbound.OutboundBlocked, match="169.254.169.254"):
        outbound.request_sync("GET", server.url("/redirect?to=http://169.254.169.254/latest/"))


def test_it_refuses_a_redirect_to_a_private_address_once_private_is_disallowed(settings, server):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    first_hop = server.url("/redirect?to=http://10.0.0.5/")
    settings.OUTBOUND_ALLOW_PRIVATE = False
    with pytest.raises(outbound.OutboundBlocked):
        outbound.request_sync("GET", first_hop)


def test_it_follows_allowed_redirects_and_reports_the_final_url(allow_private, server):
    response = outbound.request_sync("GET", server.url(f"/redirect?to={server.url('/json')}"))
    assert response.status == 200
    assert response.url.endswith("/json")
    assert [hit[1] for hit in server.hits] == [f"/redirect?to={server.url('/json')}", "/json"]


def test_it_stops_following_after_the_hop_limit(allow_private, server):
    response = outbound.request_sync("GET", server.url("/redirect?to=/ok"), follow_redirects=0)
    assert response.status == 302
    assert len(server.hits) == 1


def test_it_caps_the_response_body(allow_private, server):
    response = outbound.request_sync("GET", server.url("/big"), max_bytes=1000)
    assert len(response.body) == 1000
    assert response.truncated is True


def test_it_times_out(allow_private, server):
    with pytest.raises(outbound.OutboundError, match="timed out"):
        outbound.request_sync("GET", server.url("/slow?s=2"), timeout=0.3)


def test_it_reports_a_refused_connection_as_an_outbound_error(allow_private):
    with pytest.raises(outbound.OutboundError):
        outbound.request_sync("GET", f"http://127.0.0.1:{closed_port()}/")


def test_it_sends_the_body_and_headers(allow_private, server):
    response = outbound.request_sync(
        "POST", server.url("/hook"), headers={"X-Test": "1"}, content=b'{"a": 1}'
    )
    assert response.status == 200
    method, path, headers, body = server.hits[0]
    assert (method, path, body, headers["X-Test"]) == ("POST", "/hook", b'{"a": 1}', "1")


def test_the_async_api_works_inside_an_event_loop(allow_private, server):
    async def run():
        return await outbound.request("GET", server.url("/ok"))

    assert asyncio.run(run()).status == 200


def test_tcp_connect_measures_an_open_port(allow_private):
    with tcp_listener() as port:
        assert outbound.tcp_connect_sync("127.0.0.1", port, timeout=2) >= 0


def test_tcp_connect_fails_on_a_closed_port(allow_private):
    with pytest.raises(outbound.OutboundError):
        outbound.tcp_connect_sync("127.0.0.1", closed_port(), timeout=2)


def test_tcp_connect_refuses_metadata_and_loopback_by_default(settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    with pytest.raises(outbound.OutboundBlocked):
        outbound.tcp_connect_sync("169.254.169.254", 80, timeout=2)
    with tcp_listener() as port, pytest.raises(outbound.OutboundBlocked):
        outbound.tcp_connect_sync("127.0.0.1", port, timeout=2)


# --- Credentials across redirects -----------------------------------------------------------
CREDENTIALS = {"Authorization": "Bearer s3cret", "Cookie": "session=s3cret", "Proxy-Authorization": "Basic s3cret"}


def test_a_redirect_to_another_port_drops_the_credentials(allow_private, server):
    with http_server() as other:
        response = outbound.request_sync(
            "GET", server.url(f"/redirect?to={other.url('/ok')}"),
            headers={**CREDENTIALS, "X-Signature": "s3cret", "X-Trace": "kept"}, secret_headers=["x-signature"],
        )
    assert response.status == 200
    first, second = server.hits[0][2], other.hits[0][2]
    assert {name: first.get(name) for name in [*CREDENTIALS, "X-Signature"]} == {**CREDENTIALS, "X-Signature": "s3cret"}
    assert [name for name in [*CREDENTIALS, "X-Signature"] if name in second] == []
    assert second["X-Trace"] == "kept"


def test_a_redirect_to_another_host_drops_the_credentials(allow_private, server):
    # localhost and 127.0.0.1 are the same machine but another host name: another origin.
    target = server.url("/ok").replace("127.0.0.1", "localhost")
    outbound.request_sync("GET", server.url(f"/redirect?to={target}"), headers=CREDENTIALS)
    assert [name for name in CREDENTIALS if name in server.hits[1][2]] == []


def test_a_redirect_within_the_origin_keeps_the_credentials(allow_private, server):
    outbound.request_sync("GET", server.url("/redirect?to=/ok"), headers=CREDENTIALS)
    assert {name: server.hits[1][2].get(name) for name in CREDENTIALS} == CREDENTIALS


def test_a_credential_dropped_once_stays_dropped_when_the_chain_comes_back(allow_private, server):
    with http_server() as other:
        back = server.url("/ok")
        outbound.request_sync(
            "GET", server.url(f"/redirect?to={other.url(f'/redirect?to={back}')}"), headers=CREDENTIALS,
        )
    assert [hit[1] for hit in server.hits] == [server.hits[0][1], "/ok"]
    assert [name for name in CREDENTIALS if name in server.hits[1][2]] == []


# --- IPv6 forms ------------------------------------------------------------------------------
def test_ipv6_loopback_is_reachable_when_private_targets_are_allowed(allow_private):
    import socket

    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    listener.bind(("::1", 0))
    listener.listen(4)
    try:
        assert outbound.tcp_connect_sync("::1", listener.getsockname()[1], timeout=2) >= 0
    finally:
        listener.close()


TUNNELS_TO_METADATA = [
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "64:ff9b::a9fe:a9fe",  # NAT64
    "::ffff:0:a9fe:a9fe",  # IPv4-translated
    "::a9fe:a9fe",  # IPv4-compatible
    "2001:0:a9fe:a9fe::1",  # Teredo server
    "2001:0:4136:e378:8000:63bf:5601:5601",  # Teredo client 169.254.169.254 (stored inverted)
]


@pytest.mark.parametrize("address", TUNNELS_TO_METADATA)
def test_tunnelled_link_local_addresses_are_refused_even_when_private_is_allowed(allow_private, address):
    with pytest.raises(outbound.OutboundBlocked, match="169.254.169.254"):
        outbound.tcp_connect_sync(address, 80, timeout=2)


@pytest.mark.parametrize("address", ["2002:7f00:1::1", "2002:a00:1::1", "64:ff9b::7f00:1", "64:ff9b::c0a8:101"])
def test_tunnelled_private_addresses_are_refused_by_default(settings, address):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    with pytest.raises(outbound.OutboundBlocked, match="loopback or private"):
        outbound.tcp_connect_sync(address, 80, timeout=2)


def test_tunnelled_public_addresses_are_allowed():
    assert addresses.refusal_reason(ipaddress.ip_address("2002:808:808::1"), allow_private=False) is None
    assert addresses.refusal_reason(ipaddress.ip_address("64:ff9b::808:808"), allow_private=False) is None
