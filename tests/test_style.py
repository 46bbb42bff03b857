"""The code's style, as `ruff` and .pre-commit-config.yaml enforce it: the package, the tests, the tools and the
benchmarks at 120 columns (pyproject.toml), the chapters' code at 79 (chapters/ruff.toml, found by ruff's own
configuration discovery: the nearest configuration file to each file wins).

The ruff of the test environment runs (`python -m ruff`). Without it these tests are skipped, except under CI=true,
where they fail: CI never skips them silently.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

from book import REPO_ROOT

CHAPTERS = REPO_ROOT / "chapters"
# Everything of ours that holds Python: the folders ruff reads, and every chapter notebook (not a reader's
# checkpoints or run folders).
PYTHON_FOLDERS = ["src", "tests", "tools", "benchmarks"]
CHAPTER_NOTEBOOKS = sorted(
    path
    for path in CHAPTERS.rglob("*.ipynb")
    if not {".ipynb_checkpoints", "runs"} & set(path.relative_to(CHAPTERS).parts)
)
# Characters: the widest line of chapter code, as chapters/ruff.toml gives it to ruff.
CHAPTER_LINE_LENGTH = int(
    re.search(r"^line-length\s*=\s*(\d+)", (CHAPTERS / "ruff.toml").read_text(), re.MULTILINE).group(1)
)


def _ruff(*args: str) -> subprocess.CompletedProcess:
    """`python -m ruff ARGS` in the repository, or a skip (a failure under CI) that says how to install it."""
    if importlib.util.find_spec("ruff") is None:
        reason = f"the style tests need ruff in the test environment ({sys.executable} -m pip install ruff)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}. Under CI the style tests must run, not be skipped.", pytrace=False)
        pytest.skip(reason)
    # --no-cache: ruff would otherwise leave a .ruff_cache folder in the checkout
    command = [sys.executable, "-m", "ruff", *args, "--no-cache"]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)


def _targets() -> list[str]:
    return PYTHON_FOLDERS + [path.relative_to(REPO_ROOT).as_posix() for path in CHAPTER_NOTEBOOKS]


@pytest.mark.parametrize(
    ("command", "fix"),
    [
        (["check"], "`ruff check --fix` repairs some"),
        (["format", "--check"], "`ruff format` formats them"),
    ],
    ids=["check", "format"],
)
def test_ruff_finds_nothing_to_change(command, fix):
    result = _ruff(*command, *_targets())
    assert result.returncode == 0, (
        f"ruff {' '.join(command)} found problems ({fix}; .pre-commit-config.yaml runs it on commit):\n"
        f"{result.stdout[-6000:]}{result.stderr[-2000:]}"
    )


def long_code_lines(nb: dict, limit: int = CHAPTER_LINE_LENGTH) -> list[str]:
    """Every line of a code cell longer than limit characters, as "cell N, line M (K characters): <line>"."""
    found = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for number, line in enumerate(text.splitlines(), start=1):
            if len(line) > limit:
                found.append(f"cell {index}, line {number} ({len(line)} characters): {line}")
    return found


def test_chapters_exist():
    # Guards the test below and the ruff targets: a glob that found nothing would check nothing.
    assert len(CHAPTER_NOTEBOOKS) >= 9, f"expected the book's chapters under {CHAPTERS}, found {CHAPTER_NOTEBOOKS}"


@pytest.mark.parametrize("notebook", CHAPTER_NOTEBOOKS, ids=[p.stem for p in CHAPTER_NOTEBOOKS])
def test_no_chapter_code_line_is_wider_than_the_page(notebook):
    # Beside ruff, whose E501 lets pass a line that ends in a URL, a line that is one unbroken word (a long string
    # in a list) and a line with a pragma comment, at any length. A notebook shows every cell, the setup cell that
    # the site hides included (Colab, Jupyter), so every line holds the chapters' width.
    long = long_code_lines(json.loads(notebook.read_text()))
    assert not long, (
        f"{notebook.name}: code lines longer than {CHAPTER_LINE_LENGTH} characters, which a reader would have to "
        "scroll sideways:\n" + "\n".join(long)
    )


def _notebook(*lines: str) -> dict:
    """A markdown cell wider than the page (prose wraps: not checked), then a code cell of these lines."""
    return {
        "cells": [{"cell_type": "markdown", "source": "x" * 200}, {"cell_type": "code", "source": "\n".join(lines)}]
    }


def test_the_line_check_sees_the_long_lines_ruff_lets_pass():
    fits = "y = " + "2" * (CHAPTER_LINE_LENGTH - 4)
    assert long_code_lines(_notebook("x = 1", fits)) == [], "a line of exactly the width is allowed"
    url = "x = 1  # https://example.com/" + "a" * CHAPTER_LINE_LENGTH
    word = '    "' + "b" * CHAPTER_LINE_LENGTH + '",'
    assert long_code_lines(_notebook("x = 1", url, "urls = [", word, "]")) == [
        f"cell 1, line 2 ({len(url)} characters): {url}",
        f"cell 1, line 4 ({len(word)} characters): {word}",
    ]
