"""File downloads: streamed in chunks, with `Range` (one range: 206; several: 206
`multipart/byteranges`, streamed too; 416 when unsatisfiable), `ETag` and `If-None-Match` /
`If-Range`, as an attachment that a browser never renders or sniffs.

Every download queues one access-log row (who, from where, how many bytes, which status)
when its last byte has gone out — or when the client went away; the row is written in bulk
later (`files.access_log`), so logging never delays a byte.
"""
import secrets
from dataclasses import dataclass

from django.http import HttpResponse, StreamingHttpResponse

from core.api.errors import error_response
from files import access_log, storage
from files.models import File
from files.names import content_disposition
from files.ranges import MAX_RANGES, UnsatisfiableRange, parse_ranges

# A file is a download, never a page: no script, no plugin, no framing, even if opened inline.
SANDBOX_CSP = "default-src 'none'; sandbox"


@dataclass(frozen=True)
class Accessor:
    """Who downloads, for the access log."""

    via: str  # FileAccessLog.Via
    ip: str | None
    user_id: object = None
    api_key_id: object = None
    share_id: object = None


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in candidates or etag in candidates


def download_response(request, file: File, accessor: Accessor, *, cache_control: str = "private, no-cache"):
    headers = {
        "ETag": file.etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": cache_control,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": SANDBOX_CSP,
    }
    if _etag_matches(request.META.get("HTTP_IF_NONE_MATCH", ""), file.etag):
        _log(file, accessor, 304, 0)
        response = HttpResponse(status=304)
        for name, value in headers.items():
            response[name] = value
        return response
    ranges = None
    range_header = request.META.get("HTTP_RANGE", "")
    if_range = request.META.get("HTTP_IF_RANGE", "")
    if range_header and (not if_range or if_range.strip() == file.etag):
        try:
            ranges = parse_ranges(range_header, file.size)
        except UnsatisfiableRange:
            _log(file, accessor, 416, 0)
            response = error_response(416, code="VALIDATION_ERROR", message=(
                f"The range is not satisfiable (malformed, past the end, overlapping or more than "
                f"{MAX_RANGES} ranges); the file has {file.size} bytes."))
            response["Content-Range"] = f"bytes */{file.size}"
            return response
    if ranges and len(ranges) > 1:
        response = _multipart_response(file, accessor, ranges)
    else:
        start, end = ranges[0] if ranges else (0, file.size - 1)
        length = end - start + 1 if file.size else 0
        status = 206 if ranges else 200
        response = StreamingHttpResponse(
            _stream(file, accessor, [(b"", start, length)], status), status=status, content_type=file.content_type
        )
        response["Content-Length"] = str(length)
        if ranges:
            response["Content-Range"] = f"bytes {start}-{end}/{file.size}"
    for name, value in headers.items():
        response[name] = value
    response["Content-Disposition"] = content_disposition(file.name)
    return response


def _multipart_response(file: File, accessor: Accessor, ranges: list[tuple[int, int]]) -> StreamingHttpResponse:
    """206 `multipart/byteranges` (RFC 9110 §14.6): each range as a part with its own
    `Content-Range`, in the order asked, streamed; the exact `Content-Length` is known up front."""
    boundary = secrets.token_hex(16)
    pieces = []  # (bytes before the part's data, start, length)
    for start, end in ranges:
        head = (f"\r\n--{boundary}\r\nContent-Type: {file.content_type}\r\n"
                f"Content-Range: bytes {start}-{end}/{file.size}\r\n\r\n").encode()
        pieces.append((head, start, end - start + 1))
    tail = f"\r\n--{boundary}--\r\n".encode()
    response = StreamingHttpResponse(
        _stream(file, accessor, pieces, 206, tail=tail),
        status=206, content_type=f"multipart/byteranges; boundary={boundary}",
    )
    response["Content-Length"] = str(sum(len(head) + length for head, _start, length in pieces) + len(tail))
    return response


def _stream(file: File, accessor: Accessor, pieces: list[tuple[bytes, int, int]], status: int, *,
            tail: bytes = b""):
    """Each (part header, start, length) piece: its header (empty for a single range), then its bytes."""
    expected = sum(length for _head, _start, length in pieces)
    sent = 0
    try:
        for head, start, length in pieces:
            if head:
                yield head
            for chunk in storage.read_range(file.storage_key, start, length):
                sent += len(chunk)
                yield chunk
        if tail:
            yield tail
    finally:
        # After the last byte (or the client's disconnect): the row never delays the download.
        _log(file, accessor, status if sent == expected else 499, sent)


def _log(file: File, accessor: Accessor, status: int, sent: int) -> None:
    # A deque append: the row is written in bulk later (files.access_log), never in this path.
    access_log.record(
        tenant_id=file.tenant_id, file_id=file.pk, via=accessor.via, status=status, sent=sent, ip=accessor.ip,
        user_id=accessor.user_id, api_key_id=accessor.api_key_id, share_id=accessor.share_id,
    )
