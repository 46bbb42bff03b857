"""Every chapter: stored clean, shaped like a chapter, executed under papermill, and built into the site."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

from book import REPO_ROOT, toc_files, toc_notebooks

NOTEBOOKS = toc_notebooks()
IDS = [nb.stem for nb in NOTEBOOKS]
CANONICAL_SETUP_NOTEBOOK = REPO_ROOT / "chapters" / "01_convolution_arithmetic.ipynb"


def load(notebook: Path) -> dict:
    return json.loads(notebook.read_text())


def source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def tagged(nb: dict, tag: str) -> list[dict]:
    return [c for c in nb["cells"] if tag in c.get("metadata", {}).get("tags", [])]


def setup_cell(nb: dict) -> str:
    cells = [source(c) for c in tagged(nb, "remove-cell") if 'find_spec("alexnet_book")' in source(c)]
    assert len(cells) == 1, "expected exactly one setup cell (tagged remove-cell) that installs alexnet_book"
    return cells[0]


def test_every_chapter_notebook_is_in_the_table_of_contents():
    listed = {nb.resolve() for nb in NOTEBOOKS}
    orphans = [p.name for p in (REPO_ROOT / "chapters").glob("*.ipynb") if p.resolve() not in listed]
    assert not orphans, f"add these to _toc.yml (or they are never built nor tested): {orphans}"
    assert NOTEBOOKS, "no notebooks listed in _toc.yml"


def test_every_toc_entry_exists():
    missing = [f for f in toc_files() if not any((REPO_ROOT / f"{f}{s}").exists() for s in (".ipynb", ".md"))]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_notebook_is_stored_clean(notebook):
    nb = load(notebook)
    dirty = [
        i
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, (
        f"{notebook.name}: cells {dirty} have outputs or execution counts; clear them (make clean-notebooks)"
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_notebook_has_the_anatomy_of_a_chapter(notebook):
    nb = load(notebook)
    assert re.fullmatch(r"[0-9]{2}_[a-z0-9_]+\.ipynb", notebook.name), "chapters are named NN_snake_case.ipynb"
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown" and source(first).startswith("# "), (
        "the first cell must start with the # Title"
    )
    titles = [
        line
        for c in nb["cells"]
        if c["cell_type"] == "markdown"
        for line in source(c).splitlines()
        if line.startswith("# ")
    ]
    assert len(titles) == 1, f"one H1 per chapter, found {titles}"
    parameters = tagged(nb, "parameters")
    assert len(parameters) == 1, "exactly one cell tagged 'parameters' (papermill injects the run's values after it)"
    for node in ast.parse(source(parameters[0])).body:
        assert isinstance(node, ast.Assign), "the parameters cell holds assignments only"
        ast.literal_eval(node.value)  # raises unless the value is a literal, as papermill needs
    assert "PROFILE" in source(parameters[0]), "every chapter takes PROFILE (smoke/quick/full/auto)"
    code = "\n".join(source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "## Summary" in code and "## Exercises" in code, "a chapter ends with ## Summary and ## Exercises"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_setup_cell_is_the_same_everywhere_and_names_the_configured_repository(notebook):
    expected = setup_cell(load(CANONICAL_SETUP_NOTEBOOK))
    assert setup_cell(load(notebook)) == expected, f"{notebook.name}: the setup cell differs from chapter 1's"
    url = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")
    assert f'"git+{url}.git"' in expected, f"the setup cell must install from _config.yml's repository ({url})"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_notebook_runs_under_papermill(notebook, executions):
    seconds, error = executions.run(notebook)
    assert error is None, f"{notebook.name} failed under papermill after {seconds:.0f} s:\n{error}"


def test_site_builds_without_warnings(built_site):
    assert (built_site / "index.html").exists()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_built_chapter_page_shows_its_outputs(notebook, built_site):
    page = built_site / notebook.relative_to(REPO_ROOT).with_suffix(".html")
    html = page.read_text()
    assert 'class="pasted-text"' in html or "pasted-inline" in html, f"{page.name}: no glued number on the page"
    assert "Traceback" not in html and "output stderr" not in html, f"{page.name}: an error output is on the page"
    for src in re.findall(r'<img[^>]+src="([^"]+)"', html):
        if not src.startswith(("http", "data:")):
            assert (page.parent / src).exists(), f"{page.name}: image {src} is missing from the site"


def test_chapter_one_page_has_formulas_figures_and_checked_numbers(built_site):
    html = (built_site / "chapters" / "01_convolution_arithmetic.html").read_text()
    assert 'class="math' in html, "no rendered math on chapter 1"
    assert "fig-sliding-filter" in html and "A 3-wide filter (red) sliding" in html, (
        "the sliding-filter figure is missing"
    )
    assert re.search(r'<img[^>]+src="[^"]*_images/[^"]+\.png"', html), "no figure image on chapter 1"
    assert re.search(r'<span class="pasted-text">55</span>', html), "the glued conv1 size (55) is missing"
