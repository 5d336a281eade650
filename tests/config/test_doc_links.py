"""The product documents itself: the README and docs/ link nothing outside the repository.

A user has the checkout and the running platform, nothing else; so every Markdown link is
relative and resolves to a file of the repository (and, with a `#fragment`, to one of that
file's headings), or is an address of the platform itself on the local machine.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
AUTOLINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^>\s]+)>", re.I)
BARE_URL = re.compile(r"(?<![(<\w])(?:https?|ftp)://[^\s)>\]]+", re.I)
# The platform's own pages on the machine it runs on (the quick start points at them).
LOCAL_PLATFORM = re.compile(r"^https?://(127\.0\.0\.1|localhost)(:\d+)?(/|$)", re.I)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def prose(text: str) -> str:
    """The page without code: URLs inside code samples are examples, not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def anchors(page: Path) -> set[str]:
    """GitHub's heading slugs: lower case, punctuation other than `-` and `_` dropped, spaces → `-`."""
    slugs = set()
    for line in FENCE.sub("", page.read_text()).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            slugs.add(re.sub(r"[^\w\- ]", "", match.group(1).lower()).replace(" ", "-"))
    return slugs


def problems(page: Path) -> list[str]:
    text = prose(page.read_text())
    found = []
    for target in [*LINK.findall(text), *AUTOLINK.findall(text), *BARE_URL.findall(text)]:
        if LOCAL_PLATFORM.match(target):
            continue
        if SCHEME.match(target) or target.startswith("//"):
            found.append(f"{target}: leaves the repository")
            continue
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.is_relative_to(ROOT):
            found.append(f"{target}: points outside the repository")
        elif not resolved.exists():
            found.append(f"{target}: no such file in the repository")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            found.append(f"{target}: no heading #{fragment} in {resolved.relative_to(ROOT)}")
    return found


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_documentation_links_stay_inside_the_repository(page):
    assert problems(page) == []


def test_the_check_catches_what_it_should(tmp_path, monkeypatch):
    # The rules above, on a page that breaks each of them once.
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# A heading\n")
    page = tmp_path / "README.md"
    page.write_text(
        "[spec](../shared/SPEC.md) [web](https://example.com/x) <https://example.org> "
        "[missing](docs/gone.md) [anchor](docs/there.md#nope) https://bare.example.net/p\n"
        "[fine](docs/there.md#a-heading) <http://127.0.0.1:8000/admin/> `https://in.code/x`\n"
        "```\nhttps://in.fence.example/\n```\n"
    )
    assert problems(page) == [
        "../shared/SPEC.md: points outside the repository",
        "https://example.com/x: leaves the repository",
        "docs/gone.md: no such file in the repository",
        "docs/there.md#nope: no heading #nope in docs/there.md",
        "https://example.org: leaves the repository",
        "https://bare.example.net/p: leaves the repository",
    ]
