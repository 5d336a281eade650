"""Client names made safe for display and Content-Disposition; types detected from bytes."""
import pytest

from files.names import content_disposition, detect_content_type, sanitise_name


@pytest.mark.parametrize(("raw", "expected"), [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\x\\evil.exe", "evil.exe"),
    ("..", "file"),
    ("", "file"),
    (None, "file"),
    ("a\x00b\x1fc.txt", "abc.txt"),
    ("invoice\u202egpj.exe", "invoicegpj.exe"),  # a bidi override that shows "exe.jpg"
    ("line\nbreak\r.txt", "linebreak.txt"),
    ("  spaced name .txt. ", "spaced name .txt"),
    ("e\u0301t\u00e9.txt", "\u00e9t\u00e9.txt"),  # NFC
])
def test_names_keep_only_a_safe_last_component(raw, expected):
    assert sanitise_name(raw) == expected


def test_a_long_name_is_cut_keeping_its_extension():
    name = sanitise_name("x" * 400 + ".tar.gz")
    assert len(name) == 255 and name.endswith(".gz")


def test_content_disposition_has_an_ascii_fallback_and_the_exact_name():
    header = content_disposition('r\u00e9sum\u00e9 "final";.pdf')
    assert header.startswith('attachment; filename="resume _final__.pdf"')
    assert header.endswith("filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22%3B.pdf")


@pytest.mark.parametrize(("head", "expected"), [
    (b"%PDF-1.7\n", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, "image/png"),
    (b"<html><script>alert(1)</script></html>", "text/plain"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "text/plain"),
    (b"plain words \xc3", "text/plain"),  # a UTF-8 character cut at the window's end
    (b"\x00\x01\x02binary", "application/octet-stream"),
    (b"", "application/octet-stream"),
])
def test_the_type_comes_from_the_bytes_and_never_renders_markup(head, expected):
    assert detect_content_type(head) == expected
