"""File downloads: streamed in chunks, with `Range` (one range; 206 / 416), `ETag` and
`If-None-Match` / `If-Range`, as an attachment that a browser never renders or sniffs.

Every download writes one access-log row (who, from where, how many bytes, which status)
when its last byte has gone out — or when the client went away — so logging never delays
the first byte.
"""
import logging
import re
from dataclasses import dataclass

from django.http import HttpResponse, StreamingHttpResponse

from core.api.errors import error_response
from files import services, storage
from files.models import File
from files.names import content_disposition

logger = logging.getLogger("groundstation.files")

RANGE_SPEC = re.compile(r"^(\d*)-(\d*)$")
# A file is a download, never a page: no script, no plugin, no framing, even if opened inline.
SANDBOX_CSP = "default-src 'none'; sandbox"


class UnsatisfiableRange(Exception):
    pass


@dataclass(frozen=True)
class Accessor:
    """Who downloads, for the access log."""

    via: str  # FileAccessLog.Via
    ip: str | None
    user_id: object = None
    api_key_id: object = None
    share_id: object = None


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The one byte range `header` asks for, as (start, end inclusive); None means the whole file.

    Units other than bytes and multi-range requests are ignored (RFC 9110 allows it: the whole
    file is sent); a malformed or unsatisfiable `bytes=` range raises `UnsatisfiableRange`.
    """
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    specs = [spec.strip() for spec in specs.split(",")]
    if len(specs) > 1:
        return None
    match = RANGE_SPEC.match(specs[0])
    if match is None or match.group(0) == "-":
        raise UnsatisfiableRange()
    first, last = match.groups()
    if first == "":  # suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise UnsatisfiableRange()
        return max(0, size - length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start > end or start >= size:
        raise UnsatisfiableRange()
    return start, min(end, size - 1)


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
    byte_range = None
    range_header = request.META.get("HTTP_RANGE", "")
    if_range = request.META.get("HTTP_IF_RANGE", "")
    if range_header and (not if_range or if_range.strip() == file.etag):
        try:
            byte_range = parse_range(range_header, file.size)
        except UnsatisfiableRange:
            _log(file, accessor, 416, 0)
            response = error_response(416, code="VALIDATION_ERROR",
                                      message=f"The range is not satisfiable; the file has {file.size} bytes.")
            response["Content-Range"] = f"bytes */{file.size}"
            return response
    start, end = byte_range or (0, file.size - 1)
    length = end - start + 1 if file.size else 0
    status = 206 if byte_range else 200
    response = StreamingHttpResponse(
        _stream(file, accessor, start, length, status), status=status, content_type=file.content_type
    )
    for name, value in headers.items():
        response[name] = value
    response["Content-Length"] = str(length)
    response["Content-Disposition"] = content_disposition(file.name)
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{end}/{file.size}"
    return response


def _stream(file: File, accessor: Accessor, start: int, length: int, status: int):
    sent = 0
    try:
        for chunk in storage.read_range(file.storage_key, start, length):
            sent += len(chunk)
            yield chunk
    finally:
        # After the last byte (or the client's disconnect): the row never delays the download.
        _log(file, accessor, status if sent == length else 499, sent)


def _log(file: File, accessor: Accessor, status: int, sent: int) -> None:
    try:
        services.access_log_record(
            file=file, via=accessor.via, status=status, sent=sent, ip=accessor.ip,
            user_id=accessor.user_id, api_key_id=accessor.api_key_id, share_id=accessor.share_id,
        )
    except Exception:  # a lost log row must not fail a download that already succeeded
        logger.exception("file access log row not recorded", extra={"file": str(file.pk)})
