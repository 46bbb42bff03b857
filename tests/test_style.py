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
import shutil
import subprocess
import sys
from pathlib import Path

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
# Characters: the widest line a rendered code block shows (chapters/ruff.toml says the same to ruff).
CHAPTER_LINE_LENGTH = 79


def _ruff(*args: str | Path, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    """`python -m ruff ARGS` in cwd, or a skip (a failure under CI) that says how to install it."""
    if importlib.util.find_spec("ruff") is None:
        reason = f"the style tests need ruff in the test environment ({sys.executable} -m pip install ruff)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}. Under CI the style tests must run, not be skipped.", pytrace=False)
        pytest.skip(reason)
    # --no-cache: ruff would otherwise leave a .ruff_cache folder in the checkout
    command = [sys.executable, "-m", "ruff", *map(str, args), "--no-cache"]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


def _targets() -> list[str]:
    return PYTHON_FOLDERS + [path.relative_to(REPO_ROOT).as_posix() for path in CHAPTER_NOTEBOOKS]


def test_ruff_check_passes():
    result = _ruff("check", *_targets())
    assert result.returncode == 0, (
        f"ruff check found problems (`ruff check --fix` repairs some; .pre-commit-config.yaml runs it on commit):\n"
        f"{result.stdout[-6000:]}{result.stderr[-2000:]}"
    )


def test_ruff_format_leaves_every_file_as_it_is():
    result = _ruff("format", "--check", *_targets())
    assert result.returncode == 0, (
        f"these files are not formatted as `ruff format` would (run it on them):\n"
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
    # Guards the two tests below and the ruff targets: a glob that found nothing would check nothing.
    assert len(CHAPTER_NOTEBOOKS) >= 9, f"expected the book's chapters under {CHAPTERS}, found {CHAPTER_NOTEBOOKS}"


@pytest.mark.parametrize("notebook", CHAPTER_NOTEBOOKS, ids=[p.stem for p in CHAPTER_NOTEBOOKS])
def test_no_chapter_code_line_is_wider_than_the_page(notebook):
    # Independent of ruff (whose E501 lets a long URL or an unbreakable word pass): the page shows 79 characters.
    long = long_code_lines(json.loads(notebook.read_text()))
    assert not long, (
        f"{notebook.name}: code lines longer than {CHAPTER_LINE_LENGTH} characters, which a reader would have to "
        "scroll sideways on the page:\n" + "\n".join(long)
    )


def test_the_chapter_line_length_is_the_one_ruff_uses():
    setting = re.search(r"^line-length\s*=\s*(\d+)", (CHAPTERS / "ruff.toml").read_text(), re.MULTILINE)
    assert setting and int(setting.group(1)) == CHAPTER_LINE_LENGTH, "chapters/ruff.toml and this test disagree"


def _notebook(*lines: str) -> dict:
    return {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "x" * 200},
            {"cell_type": "code", "metadata": {}, "source": "\n".join(lines), "outputs": [], "execution_count": None},
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_the_line_check_sees_a_long_code_line_and_only_that():
    assert long_code_lines(_notebook("x = 1", "y = " + "2" * 75)) == [], "a 79-character line is allowed"
    long = "y = " + "2" * 76
    assert long_code_lines(_notebook("x = 1", long)) == [f"cell 1, line 2 (80 characters): {long}"]


def test_ruff_fails_on_long_lines_and_unformatted_code_with_the_projects_settings(tmp_path):
    # Guards the ruff tests above: in a copy of the project's configuration, a 130-character line in the package
    # and an 85-character line in a chapter (under 120, so only chapters/ruff.toml can flag it) must fail ruff check,
    # code that is not formatted must fail ruff format --check, and tidy code must pass both.
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "src").mkdir()
    (tmp_path / "chapters").mkdir()
    shutil.copy(CHAPTERS / "ruff.toml", tmp_path / "chapters" / "ruff.toml")

    tidy = tmp_path / "src" / "tidy.py"
    tidy.write_text('"""A module."""\n\nx = 1\n')
    assert _ruff("check", "src", cwd=tmp_path).returncode == 0
    assert _ruff("format", "--check", "src", cwd=tmp_path).returncode == 0

    (tmp_path / "src" / "long.py").write_text(f'"""A module."""\n\nx = "{"a" * 124}"\n')
    result = _ruff("check", "src", cwd=tmp_path)
    assert result.returncode != 0 and "E501" in result.stdout, result.stdout + result.stderr
    (tmp_path / "src" / "long.py").unlink()

    (tmp_path / "src" / "ugly.py").write_text("x = {  'a':1 }\n")
    assert _ruff("format", "--check", "src", cwd=tmp_path).returncode != 0
    (tmp_path / "src" / "ugly.py").unlink()

    chapter = tmp_path / "chapters" / "01_x.ipynb"
    chapter.write_text(json.dumps(_notebook("# " + "a" * 83)))
    result = _ruff("check", chapter.relative_to(tmp_path), cwd=tmp_path)
    assert result.returncode != 0 and "E501" in result.stdout, result.stdout + result.stderr
    chapter.write_text(json.dumps(_notebook("# " + "a" * 40)))
    assert _ruff("check", chapter.relative_to(tmp_path), cwd=tmp_path).returncode == 0
