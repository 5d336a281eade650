"""Request bodies bounded before and while they are read (`MAX_REQUEST_BYTES`), at the ASGI edge.

Django's ASGI handler spools a whole body to a temporary file before any middleware runs, so a
400 MiB upload was written to disk before the 413; and a `Transfer-Encoding: chunked` body has
no `CONTENT_LENGTH`, which Django's WSGI side reads as an empty body. In front of both paths:

- a declared `Content-Length` above the limit is answered 413 at once, without reading the body
  (the server then closes the connection instead of draining it);
- a chunked body is read here up to the limit (413 the moment it passes it) and handed on with
  the `Content-Length` it turned out to have, so the application sees an ordinary body.

The limit is `MAX_REQUEST_BYTES`, except under the path prefixes of `REQUEST_BODY_LIMITS`
(uploads), which name their own; `request_body_limit()` is the one place that decides.
"""
import json
import logging
import uuid
from datetime import UTC, datetime

from django.conf import settings

logger = logging.getLogger("groundstation.access")


def request_body_limit(path: str) -> int:
    """The largest body accepted on this path: an upload route's own limit, else the default."""
    for prefix, limit in getattr(settings, "REQUEST_BODY_LIMITS", {}).items():
        if path.startswith(prefix):
            return limit
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class BodyLimit:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = request_body_limit(scope.get("path", ""))
        headers = scope["headers"]
        declared = [value for name, value in headers if name == b"content-length"]
        chunked = any(name == b"transfer-encoding" for name, _value in headers)
        if declared:
            try:
                length = int(declared[0])
            except ValueError:
                return await _refuse(send, 400, "Invalid Content-Length header.")
            if length > limit:
                return await _refuse(send, 413, f"The request body exceeds {limit} bytes.")
            return await self.app(scope, receive, send)
        if not chunked:
            return await self.app(scope, receive, send)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > limit:
                return await _refuse(send, 413, f"The request body exceeds {limit} bytes.")
            if not message.get("more_body"):
                break
        framed = [(n, v) for n, v in headers if n != b"transfer-encoding"] + [(b"content-length", b"%d" % len(body))]
        return await self.app({**scope, "headers": framed}, _replay(bytes(body), receive), send)


def _replay(body: bytes, receive):
    sent = False

    async def replayed():
        nonlocal sent
        if sent:
            return await receive()  # after the body: wait for the disconnect, as the server would
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _refuse(send, status: int, message: str) -> None:
    """The error envelope (docs/api.md, "Errors"), written without Django (no request was built)."""
    request_id = uuid.uuid4().hex
    code = {400: "VALIDATION_ERROR", 413: "PAYLOAD_TOO_LARGE"}[status]
    payload = json.dumps({"error": {
        "code": code, "message": message, "details": {}, "request_id": request_id,
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }}).encode()
    logger.info("request body refused", extra={"request_id": request_id, "status": status})
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload)),
        (b"x-request-id", request_id.encode()), (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": payload})
