"""Request body limits on the README's production server, spoken to over a raw socket.

A declared `Content-Length` above `MAX_REQUEST_BYTES` is refused before a byte of the body is
sent (it used to be read whole first on the ASGI path: a 400 MiB register request left a
305 MiB temporary file); a chunked body is capped while it is read, and a small one works
(it used to arrive as an empty body).
"""
import json
import socket
import time

import pytest

from tests.config.test_server import private_env, production_server  # noqa: F401 - the fixture is used

pytestmark = pytest.mark.worker  # starts a real server process
LIMIT = 64 * 1024
HUGE = 400 * 1024 * 1024


@pytest.fixture(scope="module")
def server(private_env):  # noqa: F811 - the imported fixture
    with production_server(private_env, MAX_REQUEST_BYTES=str(LIMIT)) as (base, output):
        yield int(base.rsplit(":", 1)[1]), output


def _exchange(port: int, head: str, body_parts=(), *, timeout: float = 15.0) -> tuple[int, dict, bytes, float]:
    """Send the head, then each body part; return (status, headers, body, seconds to the answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        started = time.monotonic()
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed while we were still sending
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"the server closed without answering: {received!r}"
            received += chunk
        elapsed = time.monotonic() - started
        head_bytes, _, rest = received.partition(b"\r\n\r\n")
        lines = head_bytes.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        while len(rest) < int(headers.get("content-length", 0)):
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return int(lines[0].split()[1]), headers, rest, elapsed


def _head(method: str, path: str, *extra: str) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *extra]
    return "\n".join(lines) + "\n"


def _chunked(data: bytes, size: int = 8192):
    for start in range(0, len(data), size):
        piece = data[start : start + size]
        yield b"%x\r\n%s\r\n" % (len(piece), piece)
    yield b"0\r\n\r\n"


@pytest.mark.parametrize("accept", ["application/json", "text/event-stream"])
def test_a_huge_declared_body_is_refused_at_once_without_being_sent(server, accept):
    port, output = server
    head = _head("POST", "/api/v1/auth/register", "Content-Type: application/json", f"Accept: {accept}",
                 f"Content-Length: {HUGE}")
    # Not one byte of the body is sent: a server that waited for it would never answer (the
    # socket's 60 s timeout); the bound on the answer's time is generous for a loaded machine.
    status, headers, body, elapsed = _exchange(port, head, timeout=60)
    assert status == 413, (body, output())
    assert json.loads(body)["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert headers["x-request-id"] and elapsed < 30


@pytest.mark.parametrize("accept", ["application/json", "text/event-stream"])
def test_a_chunked_body_above_the_limit_is_413_while_it_is_read(server, accept):
    port, output = server
    head = _head("POST", "/api/v1/auth/register", "Content-Type: application/json", f"Accept: {accept}",
                 "Transfer-Encoding: chunked")
    payload = json.dumps({"email": "big@example.com", "password": "x" * (4 * LIMIT), "name": "Big"}).encode()
    status, _headers, body, _elapsed = _exchange(port, head, _chunked(payload))
    assert status == 413, (body, output())
    assert json.loads(body)["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_a_small_chunked_json_body_is_read_like_any_other(server):
    port, output = server
    head = _head("POST", "/api/v1/auth/register", "Content-Type: application/json", "Transfer-Encoding: chunked")
    payload = json.dumps({"email": "chunked@example.com", "password": "a-Long-enough-passw0rd!", "name": "Chunk"})
    status, _headers, body, _elapsed = _exchange(port, head, _chunked(payload.encode(), size=16))
    assert status == 201, (body, output())
    assert json.loads(body)["email"] == "chunked@example.com"


def test_a_declared_body_within_the_limit_still_works(server):
    port, output = server
    payload = json.dumps({"email": "plain@example.com", "password": "a-Long-enough-passw0rd!", "name": "Plain"})
    head = _head("POST", "/api/v1/auth/register", "Content-Type: application/json", f"Content-Length: {len(payload)}")
    status, _headers, body, _elapsed = _exchange(port, head, [payload.encode()])
    assert status == 201, (body, output())


def test_an_unparseable_content_length_is_400(server):
    # uvicorn refuses it itself (plain text) before the application runs; never a 5xx or a hang.
    port, output = server
    head = _head("POST", "/api/v1/auth/register", "Content-Type: application/json", "Content-Length: 12abc")
    status, _headers, body, _elapsed = _exchange(port, head)
    assert status == 400, (body, output())
