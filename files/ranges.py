"""`Range: bytes=…` (RFC 9110 §14.2) read into the byte ranges a download sends."""
import itertools
import re

RANGE_SPEC = re.compile(r"^(\d*)-(\d*)$")
# Several ranges are served as multipart/byteranges. More than this, or ranges that overlap,
# are refused (RFC 9110 allows it: they are the shape of a broken client or of an attack that
# asks for the same bytes many times over); non-overlapping ranges never send more than the file.
MAX_RANGES = 16


class UnsatisfiableRange(Exception):
    """Answered 416 with `Content-Range: bytes */size`."""


def parse_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """The byte ranges `header` asks for, as (start, end inclusive) in the order asked; None
    means the whole file (another unit than bytes: RFC 9110 lets a server ignore it).

    A range starting past the end is dropped (unsatisfiable); if none is left, or one is
    malformed (`bytes=50-10`, `bytes=abc`), or they overlap, or there are more than
    `MAX_RANGES`, `UnsatisfiableRange` is raised.
    """
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    specs = [spec.strip() for spec in specs.split(",") if spec.strip()]
    if len(specs) > MAX_RANGES:
        raise UnsatisfiableRange()
    ranges = []
    for spec in specs:
        match = RANGE_SPEC.match(spec)
        if match is None or spec == "-":
            raise UnsatisfiableRange()
        first, last = match.groups()
        if first == "":  # suffix: the last N bytes
            if int(last) > 0 and size > 0:
                ranges.append((max(0, size - int(last)), size - 1))
            continue
        start = int(first)
        if last and int(last) < start:
            raise UnsatisfiableRange()
        if start < size:
            ranges.append((start, min(int(last) if last else size - 1, size - 1)))
    if not ranges:
        raise UnsatisfiableRange()
    ordered = sorted(ranges)
    if any(later[0] <= earlier[1] for earlier, later in itertools.pairwise(ordered)):
        raise UnsatisfiableRange()
    return ranges
