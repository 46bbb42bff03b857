"""A Sphinx extension (both editions' _config.yml load it): a link at the top of every page to the same page in the
book's other language, and to that edition's first page where it has no such page (the glossary is Korean only).

Configured by `edition_link` in each _config.yml's sphinx.config:
  label:  the link's text, in the other language ("한국어", "English")
  lang:   the other edition's language code, for hreflang
  root:   the other edition's root folder, relative to this edition's ("ko" from English, ".." from Korean)
  toc:    the other edition's _toc.yml, relative to this edition's folder (which pages it has)
"""

from __future__ import annotations

import html
from pathlib import Path, PurePosixPath

import yaml
from editions import toc_files  # beside this file in tools/, which Jupyter Book puts on the path for it


def other_edition_url(pagename: str, root: str, pages: set[str], other_root_page: str) -> str:
    """The relative address, from the page `pagename`, of the same page in the other edition (or of its first
    page where it has none)."""
    up = "../" * (len(PurePosixPath(pagename).parts) - 1)
    target = pagename if pagename in pages else other_root_page
    return f"{up}{root.rstrip('/')}/{target}.html"


def _add_link(app, pagename, templatename, context, doctree):
    settings = app.config.edition_link
    if not settings or "body" not in context:
        return
    toc = Path(app.confdir, settings["toc"])
    pages = set(toc_files(toc))
    first_page = yaml.safe_load(toc.read_text())["root"]
    url = other_edition_url(pagename, settings["root"], pages, first_page)
    link = (
        f'<p class="edition-link"><a href="{html.escape(url)}" hreflang="{html.escape(settings["lang"])}" '
        f'lang="{html.escape(settings["lang"])}">{html.escape(settings["label"])}</a></p>'
    )
    context["body"] = link + context["body"]


def setup(app):
    app.add_config_value("edition_link", {}, "html")
    app.connect("html-page-context", _add_link)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
