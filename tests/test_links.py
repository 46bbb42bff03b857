"""Every link of the built site: internal ones lead to a page and anchor that exist, external ones are well-formed.

Whether external links are alive needs a network: `make linkcheck` (Sphinx's linkcheck builder) does that.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ALLOWED_SCHEMES = {"http", "https", "mailto"}
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.I)
PLACEHOLDER_HOSTS = re.compile(r"(^|\.)(localhost|example\.(com|org|net))$|^127\.|^0\.0\.0\.0$", re.I)


class _Page(HTMLParser):
    """The hrefs of a page's links and the ids its anchors can point at."""

    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href") is not None:
            self.hrefs.append(attrs["href"])
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])


def _read(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def site_links(site: Path) -> dict[str, list[str]]:
    """Every page of the site (not the theme's static files) and its links."""
    return {
        p.relative_to(site).as_posix(): _read(p).hrefs for p in sorted(site.rglob("*.html")) if "_static" not in p.parts
    }


def external_link_problem(href: str) -> str | None:
    """Why an absolute link is malformed, or None."""
    if href != href.strip() or re.search(r"\s|[<>\"{}|\\^`]", href):
        return "contains whitespace or characters that must be escaped"
    parts = urlsplit(href)
    if parts.scheme not in ALLOWED_SCHEMES:
        return f"scheme {parts.scheme!r} is not one of {sorted(ALLOWED_SCHEMES)}"
    if parts.scheme == "mailto":
        return None if re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", parts.path, re.I) else "not an e-mail address"
    if parts.hostname and PLACEHOLDER_HOSTS.search(parts.hostname):
        return f"host {parts.hostname!r} is a placeholder or this machine, not a public site"
    if not parts.hostname or not HOSTNAME.match(parts.hostname):
        return f"host {parts.hostname!r} is not a domain name"
    try:
        parts.port  # raises on a port that is not a number
    except ValueError:
        return "port is not a number"
    return None


def internal_link_problem(site: Path, page: str, href: str, anchors: dict[Path, set[str]]) -> str | None:
    """Why a relative link of `page` leads nowhere, or None."""
    parts = urlsplit(href)
    target = (site / page).parent / unquote(parts.path) if parts.path else site / page
    target = target.resolve()
    if target.is_dir():
        target = target / "index.html"
    if not target.is_relative_to(site.resolve()) or not target.exists():
        return "no such file in the site"
    if parts.fragment and target.suffix == ".html":
        if target not in anchors:
            anchors[target] = _read(target).ids
        if unquote(parts.fragment) not in anchors[target]:
            return f"no anchor #{parts.fragment} in {target.relative_to(site.resolve())}"
    return None


def test_internal_links_lead_to_pages_and_anchors_that_exist(built_site):
    anchors: dict[Path, set[str]] = {}
    broken = [
        f"{page}: {href} ({problem})"
        for page, hrefs in site_links(built_site).items()
        for href in hrefs
        if not urlsplit(href).scheme and not href.startswith("//") and href not in ("", "#")
        if (problem := internal_link_problem(built_site, page, href, anchors))
    ]
    assert not broken, "broken internal links (fix the link, or the label it points at):\n" + "\n".join(broken)


def test_external_links_are_well_formed(built_site):
    links = site_links(built_site)
    external = [
        (page, href)
        for page, hrefs in links.items()
        for href in hrefs
        if urlsplit(href).scheme or href.startswith("//")
    ]
    assert external, "the site links to no external page at all: the bibliography alone should"
    malformed = [f"{page}: {href} ({problem})" for page, href in external if (problem := external_link_problem(href))]
    assert not malformed, "malformed external links:\n" + "\n".join(malformed)


@pytest.mark.parametrize(
    "href, problem",
    [
        ("https://papers.nips.cc/paper/2012", None),
        ("mailto:someone@example.org", None),
        ("htps://github.com/x", "scheme"),
        ("https://github .com/x", "whitespace"),
        ("https://github", "not a domain"),
        ("http://localhost:8000/x", "placeholder"),
        ("https://github.com:port/x", "port"),
        ("javascript:alert(1)", "scheme"),
    ],
)
def test_external_link_check_tells_good_from_malformed(href, problem):
    found = external_link_problem(href)
    assert (found is None) if problem is None else (found is not None and problem in found), f"{href}: {found}"


def test_internal_link_check_finds_missing_pages_and_anchors(tmp_path):
    (tmp_path / "a.html").write_text('<h1 id="top">A</h1><a href="b.html#here">b</a>')
    (tmp_path / "b.html").write_text('<section id="here">B</section>')
    anchors: dict[Path, set[str]] = {}
    assert internal_link_problem(tmp_path, "a.html", "b.html#here", anchors) is None
    assert internal_link_problem(tmp_path, "a.html", "#top", anchors) is None
    assert "no anchor" in internal_link_problem(tmp_path, "a.html", "b.html#gone", anchors)
    assert "no such file" in internal_link_problem(tmp_path, "a.html", "c.html", anchors)
    assert "no such file" in internal_link_problem(tmp_path, "a.html", "../outside.html", anchors)
