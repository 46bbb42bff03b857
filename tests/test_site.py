"""The built site as a reader sees it: every page of the table of contents opened in headless Chromium.

Each page is served from the built site on localhost, opened once, and read by one script in the page (what a
reader's browser actually shows: typeset math, loaded images, links); the tests below check what it read. The
Korean edition's pages (ko/ in the site) are read as the English ones are, and for Hangul that a font draws.
A full-page screenshot of every page is saved under _build/test/screenshots/ (never committed) for a person to look at.

Needs Debian's chromium and chromium-driver (`make test` installs them when run as root) and selenium (the test
extra). Without them these tests are skipped, except under CI=true, where they fail: CI never skips them silently.
"""

from __future__ import annotations

import base64
import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
import yaml

from book import KOREAN, REPO_ROOT, TEST_BUILD, toc_files

ENGLISH_PAGES = toc_files()
KOREAN_PAGES = [f"{KOREAN}/{page}" for page in toc_files(REPO_ROOT / KOREAN / "_toc.yml")]
PAGES = ENGLISH_PAGES + KOREAN_PAGES
CHAPTERS = [page for page in PAGES if (REPO_ROOT / f"{page}.ipynb").exists()]
SCREENSHOTS = TEST_BUILD / "screenshots"
# px: the width of the browser window every page is read at (a laptop's); no code block may scroll sideways there.
WINDOW_WIDTH = 1280
# What Chromium needs to run headless as root in a closed network (without the networking flags it keeps trying
# to reach Google's hosts); the profile directory is a new empty one, added by the fixture.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    f"--window-size={WINDOW_WIDTH},900",
    "--hide-scrollbars",
]
SCREENSHOT_MAX_HEIGHT = 20000  # px: a whole chapter, without making a PNG no viewer opens


def _browser_paths() -> tuple[str, str]:
    """Chromium and ChromeDriver, or a skip (a failure under CI) that says how to get them."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        selenium = None
    missing = [
        name for name, found in [("chromium", chromium), ("chromedriver", driver), ("selenium", selenium)] if not found
    ]
    if missing:
        reason = (
            f"the browser test needs {', '.join(missing)}: run `make test` as root (it runs "
            "`apt-get install chromium chromium-driver`), or install them yourself; selenium comes with "
            "`pip install -e '.[test]'`"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}. Under CI the browser test must run, not be skipped.", pytrace=False)
        pytest.skip(reason)
    return chromium, driver


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # one line per request would bury pytest's output
        pass


@pytest.fixture(scope="module")
def site_url(built_site):
    """The built site served over HTTP on localhost (as a reader's browser gets it, not from file://)."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(built_site))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _start_browser(profile: Path, environment: dict | None = None):
    """Headless Chromium driven by selenium, with a new profile folder (and the environment given)."""
    chromium, driver_path = _browser_paths()
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    # An explicit driver path: selenium then never runs its own manager (which would try to download a driver).
    service = webdriver.ChromeService(executable_path=driver_path, env=environment)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    return driver


@pytest.fixture(scope="session")  # session: set up (or skipped) before the site is built, which takes a minute
def browser(tmp_path_factory):
    driver = _start_browser(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


# Runs in the page once it has loaded: waits for MathJax and the images, then reads what the reader sees.
READ_PAGE = r"""
const done = arguments[arguments.length - 1];
const sleep = ms => new Promise(r => setTimeout(r, ms));
(async () => {
  // the page must have finished loading: document.body can still be null when the script starts
  for (let i = 0; i < 200 && !(document.body && document.readyState === "complete"); i++) await sleep(50);
  const mathSource = document.querySelectorAll(".math");
  if (mathSource.length) {  // MathJax is loaded asynchronously: wait for it to exist, then for its first typeset
    for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++) await sleep(50);
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  }
  await Promise.all([...document.images].map(img =>
    img.complete ? null : new Promise(r => { img.onload = img.onerror = r; })));
  const main = document.querySelector("main") || document.body;
  const text = el => (el ? el.textContent.replace(/\s+/g, " ").trim() : "");
  const h1 = main.querySelector("h1");
  const h1Copy = h1 && h1.cloneNode(true);
  if (h1Copy) h1Copy.querySelectorAll(".headerlink").forEach(a => a.remove());

  // Text a reader sees outside code: raw TeX left there means math that was not typeset.
  const rawTex = [];
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  for (let node; (node = walker.nextNode());) {
    if (node.parentElement.closest("pre, code, script, style, mjx-container, .highlight")) continue;
    const m = node.textContent.match(/\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$[^$\s][^$]*[\\^_=][^$]*\$/);
    if (m) rawTex.push(node.textContent.trim().slice(0, 120));
  }

  const origin = location.origin;
  const loaded = "script[src], link[href][rel~=stylesheet], link[href][rel~=preload], img[src], iframe[src]";
  const urls = [...document.querySelectorAll(loaded)]
    .map(el => el.src || el.href).concat(performance.getEntriesByType("resource").map(e => e.name));
  const exercises = [...main.querySelectorAll("section")]
    .find(s => /^(Exercises|연습 문제)/.test(text(s.querySelector("h2"))));
  // Hangul drawn by a font that has it: without one, every syllable is the same empty box ("tofu").
  const drawn = ch => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 64;
    const context = canvas.getContext("2d");
    context.font = `48px ${getComputedStyle(main).fontFamily}`;
    context.fillText(ch, 4, 52);
    return Array.from(context.getImageData(0, 0, 64, 64).data).join(",");
  };
  const editionLink = document.querySelector("p.edition-link a");
  // Folded: a closed <details> ({dropdown} of sphinx-design, {toggle} once togglebutton.js ran) or an admonition
  // that sphinx-togglebutton hid; their content (all but the summary or title) must not be visible.
  const folded = exercises ? [...exercises.querySelectorAll("details:not([open]), .toggle-hidden")] : [];
  const showing = el =>
    [...el.children].some(c => !c.matches("summary, .admonition-title, button") && c.checkVisibility());

  done({
    title: document.title,
    h1: text(h1Copy),
    mathSource: mathSource.length,
    mathUntypeset: [...mathSource].filter(el => !el.querySelector("mjx-container")).map(el => text(el).slice(0, 120)),
    mathTypeset: main.querySelectorAll("mjx-container").length,
    // A TeX error is an merror; an undefined macro is drawn as red text (MathJax's noundefined extension).
    mathErrors: [...main.querySelectorAll("mjx-merror, mjx-mtext[style*='color: red']")].map(el =>
      el.getAttribute("data-mjx-error") ||
      "undefined macro in: " + text(el.closest("mjx-container").querySelector("mjx-assistive-mml"))),
    mathjaxScripts: [...document.querySelectorAll("script[src]")].map(s => s.src).filter(s => /mathjax/i.test(s)),
    rawTex: rawTex,
    foreignUrls: [...new Set(urls)].filter(u => !u.startsWith(origin) && !u.startsWith("data:")),
    images: [...document.images].map(img => ({
      src: img.getAttribute("src"), loaded: img.complete && img.naturalWidth > 0, inMain: main.contains(img),
      alt: (img.getAttribute("alt") || "").trim(),
      caption: text(img.closest("figure") && img.closest("figure").querySelector("figcaption")),
    })),
    glued: [...main.querySelectorAll(".pasted-text, .pasted-inline")].map(el => text(el)),
    colabLinks: [...document.querySelectorAll("a[href*='colab.research.google.com']")].map(a => a.href),
    hasExercises: Boolean(exercises),
    lang: document.documentElement.lang,
    hangulDrawn: drawn("가") !== drawn("나") && drawn("가") !== drawn("\u{10FFFD}"),
    editionLink: editionLink
      ? { href: editionLink.href, hreflang: editionLink.hreflang, text: text(editionLink) } : null,
    folded: folded.length,
    foldedShowing: folded.filter(showing).length,
  });
})().catch(e => done({ scriptError: String(e && e.stack || e) }));
"""


# Runs in a page: the code blocks a reader would have to scroll sideways, i.e. every Pygments block (div.highlight >
# pre: a code cell's input, its text output, a code block in the prose) whose content is wider than its box. A block
# that is not displayed (in a closed dropdown) has both widths 0 and passes.
SCROLLING_CODE = r"""
const longest = text => text.split("\n").reduce((a, b) => (b.length > a.length ? b : a), "");
return {
  windowWidth: window.innerWidth,
  blocks: [...document.querySelectorAll("div.highlight pre")]
    .filter(pre => pre.scrollWidth > pre.clientWidth + 1)
    .map(pre => ({
      where: pre.closest(".cell_output") ? "cell output" : pre.closest(".cell_input") ? "code cell" : "code block",
      overflowPx: pre.scrollWidth - pre.clientWidth,
      longestLine: longest(pre.textContent).slice(0, 120),
    })),
};
"""


def scrolling_code(driver) -> dict:
    """The open page's window width and its code blocks that scroll horizontally (SCROLLING_CODE)."""
    return driver.execute_script(SCROLLING_CODE)


def _screenshot(driver, path: Path) -> None:
    """The whole page, not just the window (Chrome DevTools Protocol, which selenium passes through). The window is
    made as tall as the page first, so that the sidebars (as tall as the window) are drawn as a reader sees them."""
    width = driver.execute_script("return window.innerWidth")
    height = min(driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]["height"], SCREENSHOT_MAX_HEIGHT)
    metrics = {"width": width, "height": int(height), "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture(scope="module")
def reader_view(browser, site_url):
    """reader_view(page): what the browser shows of a page of the toc, read once per page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    seen: dict[str, dict] = {}

    def view(page: str) -> dict:
        if page not in seen:
            browser.get(f"{site_url}/{page}.html")
            facts = browser.execute_async_script(READ_PAGE)
            assert "scriptError" not in facts, f"{page}: the script reading the page failed: {facts.get('scriptError')}"
            facts["scrollingCode"] = scrolling_code(browser)  # before the screenshot, which resizes the page
            _screenshot(browser, SCREENSHOTS / f"{page.replace('/', '__')}.png")
            seen[page] = facts
        return seen[page]

    return view


def _config(page: str = "") -> dict:
    """The _config.yml of the edition `page` belongs to."""
    folder = REPO_ROOT / KOREAN if page.startswith(f"{KOREAN}/") else REPO_ROOT
    return yaml.safe_load((folder / "_config.yml").read_text())


@pytest.mark.parametrize("page", PAGES)
def test_page_title_is_its_heading_and_the_book(page, reader_view):
    facts = reader_view(page)
    book = _config(page)["title"]
    assert facts["h1"], f"{page}: no visible # heading on the page"
    assert facts["title"] == f"{facts['h1']} — {book}", (
        f"{page}: the browser's title is {facts['title']!r}, expected '<the page's # heading> — {book}'"
    )


@pytest.mark.parametrize("page", PAGES)
def test_math_is_typeset(page, reader_view):
    facts = reader_view(page)
    assert not facts["mathUntypeset"], f"{page}: MathJax did not typeset these formulas: {facts['mathUntypeset']}"
    assert not facts["mathErrors"], (
        f"{page}: MathJax could not typeset (a TeX error in the source): {facts['mathErrors']}"
    )
    assert not facts["rawTex"], (
        f"{page}: raw TeX is showing as text (math that was not parsed as math): {facts['rawTex']}"
    )
    if facts["mathSource"]:
        assert facts["mathjaxScripts"] and all("/_static/" in s for s in facts["mathjaxScripts"]), (
            f"{page}: MathJax must come from the site's own _static/ (sphinx-mathjax-offline in _config.yml), "
            f"not {facts['mathjaxScripts']}"
        )


def test_the_book_has_typeset_math(reader_view):
    # Guards the check above: it passes trivially on pages without math, but the book as a whole has formulas.
    counts = {page: reader_view(page)["mathTypeset"] for page in PAGES}
    assert sum(counts.values()) > 0, f"no formula was typeset by MathJax on any page: {counts}"


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_nothing_from_other_sites(page, reader_view):
    foreign = reader_view(page)["foreignUrls"]
    assert not foreign, (
        f"{page}: the page loads these from other sites (it must work offline; serve them from _static): {foreign}"
    )


@pytest.mark.parametrize("page", PAGES)
def test_every_image_loads(page, reader_view):
    broken = [img["src"] for img in reader_view(page)["images"] if not img["loaded"]]
    assert not broken, f"{page}: these images did not load in the browser: {broken}"


def _meaningful_alt(img: dict) -> bool:
    """Docutils puts the image's file name in alt when a figure has none: that says nothing to a reader."""
    alt = img["alt"]
    return bool(alt) and not re.search(r"\.(png|jpe?g|gif|svg|webp)$", alt, re.I) and alt != img["src"]


@pytest.mark.parametrize("page", PAGES)
def test_every_figure_has_a_caption_or_alt_text(page, reader_view):
    bare = [
        img["src"]
        for img in reader_view(page)["images"]
        if img["inMain"] and not img["caption"] and not _meaningful_alt(img)
    ]
    assert not bare, (
        f"{page}: these images have neither a caption nor alt text: {bare}. Give a code cell's figure one with "
        "`{glue:figure}` and a caption, or the cell metadata mystnb: {image: {alt: ...}} / {figure: {caption: ...}}"
    )


@pytest.mark.parametrize("page", PAGES)
def test_no_code_block_scrolls_sideways(page, reader_view):
    code = reader_view(page)["scrollingCode"]
    assert code["windowWidth"] == WINDOW_WIDTH, f"{page}: read at {code['windowWidth']} px, not {WINDOW_WIDTH}"
    assert not code["blocks"], (
        f"{page}: these code blocks are wider than the page at a {WINDOW_WIDTH}-pixel window and scroll sideways "
        f"(chapter code is kept to 79 columns by chapters/ruff.toml; wrap long output lines): {code['blocks']}"
    )


# The site's code blocks, as far as width goes: a text column of the theme's width, Pygments' pre that scrolls.
CODE_PAGE = """<!DOCTYPE html>
<html><head><style>
  main {{ max-width: 60em; margin: 0 auto; font-size: 16px; }}
  div.highlight pre {{ overflow: auto; white-space: pre; padding: 1rem; font-family: monospace; font-size: .875em; }}
</style></head>
<body><main><div class="cell_input"><div class="highlight"><pre>{code}</pre></div></div></main></body></html>
"""


@pytest.mark.parametrize(
    ("line", "scrolls"),
    [("x = 1  # " + "a" * 191, True), ("x = 1  # " + "a" * 70, False)],
    ids=["200 characters", "79 characters"],
)
def test_the_sideways_scroll_check_sees_a_long_code_line(line, scrolls, browser, tmp_path):
    # Guards test_no_code_block_scrolls_sideways: on a page of our own, a 200-character line must be caught and a
    # short one must pass (a check that never fires would pass every page).
    page = tmp_path / "code.html"
    page.write_text(CODE_PAGE.format(code=f"import os\n{line}\nprint(x)"))
    browser.get(page.as_uri())
    code = scrolling_code(browser)
    assert code["windowWidth"] == WINDOW_WIDTH
    assert bool(code["blocks"]) == scrolls, f"a {len(line)}-character line: {code}"
    if scrolls:
        assert code["blocks"][0]["where"] == "code cell" and code["blocks"][0]["longestLine"] == line[:120]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_shows_glued_numbers(chapter, reader_view):
    glued = reader_view(chapter)["glued"]
    assert glued, f"{chapter}: no glued value is on the page (numbers in the prose come from code via glue)"
    empty = glued.count("")
    assert not empty, f"{chapter}: {empty} glued value(s) are empty on the page"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_colab_link_opens_this_chapter_in_the_configured_repository(chapter, reader_view):
    config = _config(chapter)
    repository = config["repository"]
    owner_repo = re.sub(r"^https://github\.com/|/$|\.git$", "", repository["url"])
    in_edition = chapter.removeprefix(f"{KOREAN}/")  # the Korean config's path_to_book is ko
    path = "/".join(p for p in [repository.get("path_to_book", "").strip("/"), f"{in_edition}.ipynb"] if p)
    expected = (
        f"{config['launch_buttons']['colab_url'].rstrip('/')}/github/{owner_repo}/blob/{repository['branch']}/{path}"
    )
    links = reader_view(chapter)["colabLinks"]
    assert expected in links, (
        f"{chapter}: the Colab button should open {expected}; the page links {links or 'no Colab URL'}"
    )
    assert (REPO_ROOT / path).exists(), f"{chapter}: the Colab link names {path}, which is not in the repository"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_exercise_hints_are_folded(chapter, reader_view):
    facts = reader_view(chapter)
    assert facts["hasExercises"], f"{chapter}: no '## Exercises' section on the page"
    assert facts["folded"], (
        f"{chapter}: the exercises show no folded hint or solution; put them in a ```{{dropdown}} (sphinx-design) "
        "or {toggle}"
    )
    assert not facts["foldedShowing"], (
        f"{chapter}: {facts['foldedShowing']} folded hint(s) show their content before a click"
    )


@pytest.mark.parametrize("page", PAGES)
def test_every_page_links_the_same_page_in_the_other_language(page, reader_view, built_site):
    link = reader_view(page)["editionLink"]
    korean = page.startswith(f"{KOREAN}/")
    assert link, f"{page}: no link to the other edition at the top of the page (tools/sphinx_editions.py)"
    assert (link["text"], link["hreflang"]) == (("English", "en") if korean else ("한국어", "ko")), link
    target = re.sub(r"^https?://[^/]+/", "", link["href"])
    assert (built_site / target).is_file(), f"{page}: the link to the other edition leads nowhere: {target}"
    counterpart = page.removeprefix(f"{KOREAN}/") if korean else f"{KOREAN}/{page}"
    if counterpart in PAGES:
        assert target == f"{counterpart}.html", f"{page}: the other edition's link goes to {target}"


@pytest.mark.parametrize("page", KOREAN_PAGES)
def test_korean_page_is_korean_and_drawn_in_a_hangul_font(page, reader_view):
    facts = reader_view(page)
    assert facts["lang"] == "ko", f"{page}: <html lang={facts['lang']!r}>, not ko"
    assert re.search("[가-힣]", facts["h1"]), f"{page}: the heading {facts['h1']!r} is not Korean"
    assert facts["hangulDrawn"], (
        f"{page}: the browser draws Hangul as empty boxes: no Korean font is installed (`make test` as root installs "
        "fonts-noto-cjk; elsewhere install it, or another font with Hangul)"
    )


@pytest.mark.parametrize("page", [p for p in KOREAN_PAGES if p in CHAPTERS])
def test_korean_page_glues_no_english_phrase(page, reader_view):
    """A phrase code chooses is glued in Korean too (NAME_ko): the Korean prose must not show the English one."""
    english = [g for g in reader_view(page)["glued"] if re.search(r"\b(the|and|of|than|with|points?|epochs?)\b", g)]
    assert not english, f"{page}: these glued values are English; glue NAME_ko from a bilingual phrase: {english}"


# fontconfig's configuration for a browser that has only fonts without Hangul (the guard below).
FONTS_WITHOUT_HANGUL = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>{fonts}</dir><cachedir>{cache}</cachedir></fontconfig>
"""


def test_the_hangul_check_sees_a_browser_without_a_korean_font(site_url, tmp_path):
    # Guards test_korean_page_is_korean_and_drawn_in_a_hangul_font: a Chromium that sees only Latin fonts must read
    # the same Korean page as drawn in empty boxes (a check that never fires would pass every page).
    latin = next(
        (
            p
            for p in map(Path, ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation"))
            if p.is_dir()
        ),
        None,
    )
    if latin is None:
        pytest.skip("no DejaVu or Liberation fonts to start a browser without Hangul from")
    config = tmp_path / "fonts.conf"
    config.write_text(FONTS_WITHOUT_HANGUL.format(fonts=latin, cache=tmp_path / "cache"))
    driver = _start_browser(tmp_path / "profile", {**os.environ, "FONTCONFIG_FILE": str(config)})
    try:
        driver.get(f"{site_url}/{KOREAN}/book/glossary.html")
        facts = driver.execute_async_script(READ_PAGE)
    finally:
        driver.quit()
    assert "scriptError" not in facts, facts.get("scriptError")
    assert facts["hangulDrawn"] is False, "the Hangul check found Hangul drawn where no font has it"
