"""What a client says about a file, made safe: its name (display and `Content-Disposition`)
and its type (detected from the bytes; a client's claim is never served back)."""
import re
import unicodedata
from urllib.parse import quote

import filetype

MAX_NAME_LENGTH = 255
FALLBACK_NAME = "file"
# Path parts of either convention: only the last component is a name.
PATH_SEPARATORS = re.compile(r"[/\\]")
# Characters a browser would treat as markup or script when it renders a file inline. Never
# served whatever the bytes look like: with `nosniff` and `attachment`, octet-stream is safe.
ACTIVE_TYPES = {
    "text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
    "text/javascript", "application/javascript", "application/x-shockwave-flash",
}
SNIFF_BYTES = 8192


def sanitise_name(raw: str | None) -> str:
    """The last path component, without control or format characters, NFC, at most 255 chars.

    `../../etc/passwd` → `passwd`; `C:\\x\\evil.exe` → `evil.exe`; `\\x00` and bidi overrides
    (which make `gpj.exe` display as `exe.jpg`) are dropped; nothing left → `file`.
    """
    name = unicodedata.normalize("NFC", str(raw or ""))
    name = PATH_SEPARATORS.split(name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] not in ("C", "Z") or ch == " ")
    name = name.strip(" .")  # "..", trailing dots (Windows) and edge spaces
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: MAX_NAME_LENGTH - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_NAME_LENGTH]
    return name or FALLBACK_NAME


def content_disposition(name: str) -> str:
    """`attachment` with an ASCII fallback and the exact name as RFC 6266 / 5987 `filename*`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r'["\\;]', "_", ascii_name).strip() or FALLBACK_NAME
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def detect_content_type(head: bytes) -> str:
    """The type the first bytes show (magic numbers); text stays text/plain; else octet-stream."""
    kind = filetype.guess(head)
    if kind is not None and kind.mime not in ACTIVE_TYPES:
        return kind.mime
    if kind is None and head and _looks_like_text(head):
        return "text/plain"
    return "application/octet-stream"


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sniffing window's end is still text.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True
