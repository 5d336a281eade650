"""Small real HTTP servers on loopback for the satellites and the LLM client to talk to."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Recorder:
    def __init__(self):
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def add(self, **request):
        with self.lock:
            self.requests.append(request)


def serve(handler_factory):
    """Start a threaded server on a free loopback port; returns (server, base_url)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_factory)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def chat_completions_handler(recorder: Recorder, *, status: int = 200, reply: str = "Hello from the model"):
    """Speaks enough of the OpenAI chat-completions API for the client."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            recorder.add(path=self.path, headers=dict(self.headers), body=body)
            if status != 200:
                self.send_response(status)
                self.end_headers()
                return
            payload = json.dumps(
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "model": body["model"],
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    return Handler


def json_api_handler(recorder: Recorder, *, delay: float = 0.0):
    """Answers every request with JSON `{"items": [...], "path": ...}` after `delay` seconds."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            recorder.add(path=self.path, method=self.command, headers=dict(self.headers), body=self.rfile.read(length))
            time.sleep(delay)
            payload = json.dumps({"items": [1, 2, 3], "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer  # noqa: N815

        def log_message(self, *args):
            pass

    return Handler
