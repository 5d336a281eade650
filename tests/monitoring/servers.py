"""Real local servers the monitoring and outbound tests talk to (no mocks)."""
from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    """Routes: /ok, /json, /slow?…, /status/<code>, /redirect?to=<url>, /big, /hook (records bodies)."""

    server: RecordingServer

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain", headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.hits.append(("GET", self.path, dict(self.headers), b""))
        path, _, query = self.path.partition("?")
        if path == "/slow":
            time.sleep(float(query.removeprefix("s=") or 2))
            return self._reply(200, b"slow")
        if path.startswith("/status/"):
            return self._reply(int(path.rsplit("/", 1)[1]), b"status")
        if path == "/json":
            return self._reply(200, json.dumps({"status": "ok", "version": 3}).encode(), "application/json")
        if path == "/redirect":
            return self._reply(302, b"", headers={"Location": query.removeprefix("to=")})
        if path == "/big":
            return self._reply(200, b"x" * 50_000)
        return self._reply(200, b"hello from the test server")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.hits.append(("POST", self.path, dict(self.headers), body))
        time.sleep(self.server.post_delay)
        status = self.server.post_statuses.pop(0) if self.server.post_statuses else 200
        self._reply(status, b"received")


class RecordingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: list[tuple[str, str, dict, bytes]] = []
        self.post_statuses: list[int] = []
        self.post_delay = 0.0  # seconds each POST takes to answer

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def http_server():
    server = RecordingServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def tcp_listener():
    """A listening TCP socket that accepts (the kernel completes the handshake)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def closed_port() -> int:
    """A loopback port with nothing listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class _JsonRpcHandler(BaseHTTPRequestHandler):
    """A JSON-RPC 2.0 endpoint at any path: `getStatus` answers `server.status`, any other
    method the standard -32601 error object; `server.raw` (bytes) replaces every answer."""

    server: JsonRpcServer

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        call = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.server.calls.append((self.path, self.headers.get("Content-Type"), call))
        if self.server.raw is not None:
            body = self.server.raw
        elif call.get("method") == "getStatus":
            body = json.dumps({"jsonrpc": "2.0", "id": call.get("id"), "result": self.server.status}).encode()
        else:
            body = json.dumps({"jsonrpc": "2.0", "id": call.get("id"),
                               "error": {"code": -32601, "message": "Method not found"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class JsonRpcServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _JsonRpcHandler)
        self.calls: list[tuple[str, str, dict]] = []
        self.status: object = {"status": "ok", "networks": {"BNB Chain": {"wrapsToSign": 3, "unwrapsToSign": 1}}}
        self.raw: bytes | None = None

    @property
    def port(self) -> int:
        return self.server_address[1]


@contextmanager
def jsonrpc_server():
    server = JsonRpcServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
