"""tools/build_book.py (`make book`) re-executes a page whenever what it ran with changes, and only then.

A small book (one markdown page, one tiny notebook without TensorFlow) is built with the script several times. The
notebook prints the profile that PROFILE="auto" resolves to and a value from a tiny fake package (the folder given
to the script as --package), and appends a line to a file at every execution, so that the test counts executions.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from alexnet_book.data import write_python_batches

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "tools" / "build_book.py"

CONFIG = """\
title: Build key test
author: test
only_build_toc_files: true
exclude_patterns: [".*", "**/.*"]
execute:
  execute_notebooks: cache
  timeout: 120
sphinx:
  recursive_update: true
"""
TOC = """\
format: jb-book
root: intro
chapters:
  - file: chapter
"""
CODE = """\
import os
from pathlib import Path

import fakepkg.values
from alexnet_book.data import locate_cifar10
from alexnet_book.profiles import resolve_profile

PROFILE = "auto"
profile = resolve_profile(PROFILE)
if os.environ.get("BUILD_TEST_FAIL"):
    raise RuntimeError("this build was asked to fail")
with open(os.environ["BUILD_TEST_COUNTER"], "a") as counter:
    counter.write(f"{profile} {fakepkg.values.VALUE}\\n")
print(f"This page ran the {profile} profile; the package's value is {fakepkg.values.VALUE}.")
print(f"Its data: {locate_cifar10()[0] or 'standin'}.")
"""


@pytest.fixture()
def small_book(tmp_path):
    book, package_root = tmp_path / "book", tmp_path / "src"
    package = package_root / "fakepkg"
    package.mkdir(parents=True)
    book.mkdir()
    (package / "__init__.py").write_text("")
    (package / "values.py").write_text("VALUE = 1\n")
    (book / "_config.yml").write_text(CONFIG)
    (book / "_toc.yml").write_text(TOC)
    (book / "intro.md").write_text("# A small book\n\nOne page and one notebook.\n")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# The chapter"), nbformat.v4.new_code_cell(CODE)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, book / "chapter.ipynb")
    counter = tmp_path / "executions.txt"
    counter.write_text("")
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env.update(
        BUILD_TEST_COUNTER=str(counter),
        PYTHONPATH=os.pathsep.join([str(package_root), str(REPO_ROOT / "src")]),
        KERAS_BACKEND="tensorflow",
        KERAS_HOME=str(tmp_path / "keras_home"),  # no CIFAR-10 in the Keras cache ...
        https_proxy="http://127.0.0.1:9",  # ... and none downloaded: the stand-in, unless a test names a folder
    )
    env.pop("ALEXNET_BOOK_CIFAR10_DIR", None)

    def build(
        profile: str, fail: bool = False, data_dir: Path | None = None
    ) -> tuple[subprocess.CompletedProcess, float]:
        started = time.perf_counter()
        data = {"ALEXNET_BOOK_CIFAR10_DIR": str(data_dir)} if data_dir else {}
        result = subprocess.run(
            [sys.executable, str(SCRIPT), str(book), "--package", str(package)],
            env={**env, "ALEXNET_BOOK_PROFILE": profile, **({"BUILD_TEST_FAIL": "1"} if fail else {}), **data},
            capture_output=True,
            text=True,
            timeout=300,
        )
        seconds = time.perf_counter() - started
        assert (result.returncode != 0) == fail, (
            f"build {'passed' if fail else 'failed'}:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
        )
        return result, seconds

    def executions() -> list[str]:
        return counter.read_text().splitlines()

    def page() -> str:
        return (book / "_build" / "html" / "chapter.html").read_text()

    def state() -> dict:
        return json.loads((book / "_build" / ".build-key.json").read_text())

    return {"book": book, "package": package, "build": build, "executions": executions, "page": page, "state": state}


def test_rebuilds_exactly_when_the_key_changes(small_book):
    build, executions, page = small_book["build"], small_book["executions"], small_book["page"]

    first, first_seconds = build("smoke")
    assert executions() == ["smoke 1"]
    assert (
        "This page ran the smoke profile; the package&#39;s value is 1." in page()
        or "This page ran the smoke profile; the package's value is 1." in page()
    )
    assert "ran with the <strong>smoke</strong> profile" in page()  # the footer
    assert "fakepkg at a source outside git" in page()
    # the download button's notebook is the executed one, outputs and all
    served = json.loads((small_book["book"] / "_build" / "html" / "_sources" / "chapter.ipynb").read_text())
    assert any(cell.get("outputs") for cell in served["cells"]), "the site serves the notebook without outputs"

    # Nothing changed: nothing re-executes, and the build is quick.
    again, again_seconds = build("smoke")
    assert executions() == ["smoke 1"], again.stdout
    assert "executed 0 notebook(s)" in again.stdout
    assert "nothing changed since the last build" in again.stdout
    assert again_seconds < first_seconds + 5, (again_seconds, first_seconds)

    # Another profile: the notebook re-executes and the page says so.
    quick, _ = build("quick")
    assert executions() == ["smoke 1", "quick 1"], quick.stdout
    assert "profile smoke -> quick" in quick.stdout
    assert "This page ran the quick profile" in page()
    assert "ran with the <strong>quick</strong> profile" in page()
    assert "smoke profile" not in page()

    # Back to smoke: the smoke run's cache was kept aside, so nothing runs and the page shows smoke again.
    back, _ = build("smoke")
    assert executions() == ["smoke 1", "quick 1"], back.stdout
    assert "brought back" in back.stdout
    assert "This page ran the smoke profile" in page()
    assert "quick profile" not in page()

    # A changed package module: re-executed with the new value, and the output names the module.
    (small_book["package"] / "values.py").write_text("VALUE = 2\n")
    changed, _ = build("smoke")
    assert executions() == ["smoke 1", "quick 1", "smoke 2"], changed.stdout
    assert "the package's source changed (values.py)" in changed.stdout
    assert "the package&#39;s value is 2" in page() or "the package's value is 2" in page()

    # And again nothing changed.
    build("smoke")
    assert executions() == ["smoke 1", "quick 1", "smoke 2"]
    state = small_book["state"]()
    assert state["site"]["digest"] == state["cache"]["digest"]


def test_rebuilds_when_the_data_changes_either_way(small_book, tmp_path):
    """The pages re-execute when the data they read changes: a folder after the stand-in, the stand-in after a
    folder, and a folder whose files changed; the footer names the data."""
    build, executions, page = small_book["build"], small_book["executions"], small_book["page"]
    folder = tmp_path / "cifar"
    images = np.zeros((20, 32, 32, 3), np.uint8)
    write_python_batches(folder, images, np.arange(20) % 10, images[:10], np.arange(10))

    build("smoke", data_dir=folder)
    assert executions() == ["smoke 1"] and "Its data: directory." in page()
    assert f"on CIFAR-10 from the folder {folder} (the chapters that read data)" in page()

    standin, _ = build("smoke")
    assert executions() == ["smoke 1"] * 2, standin.stdout
    assert "data directory" in standin.stdout and "-> standin" in standin.stdout
    assert "Its data: standin." in page() and "on the generated stand-in, not CIFAR-10" in page()

    (folder / "test_batch").unlink()  # the same folder, other images
    write_python_batches(folder / "other", images, np.arange(20) % 10, images[:5] + 1, np.arange(5))
    (folder / "other" / "test_batch").rename(folder / "test_batch")
    changed, _ = build("smoke", data_dir=folder)
    assert executions() == ["smoke 1"] * 3, changed.stdout
    assert "Its data: directory." in page()


def test_a_failed_build_stores_no_key(small_book):
    build, executions, page, state = (
        small_book["build"],
        small_book["executions"],
        small_book["page"],
        small_book["state"],
    )
    failed, _ = build("smoke", fail=True)
    assert "the build key is not stored" in failed.stdout
    assert state()["site"] is None and state()["cache"]["key"]["profile"] == "smoke"
    # The next build re-reads every page (so the failure's warnings would show again) and runs what failed.
    fixed, _ = build("smoke")
    assert "the last build with this key did not finish" in fixed.stdout and "--all" in fixed.stdout
    assert executions() == ["smoke 1"] and "This page ran the smoke profile" in page()
    assert state()["site"]["key"]["profile"] == "smoke"


def _script_module():
    spec = importlib.util.spec_from_file_location("build_book", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_key_covers_backend_profile_and_package(tmp_path, monkeypatch):
    build_book = _script_module()
    package = tmp_path / "pkg"
    (package / "recorded").mkdir(parents=True)
    (package / "a.py").write_text("A = 1\n")
    (package / "recorded" / "r.json").write_text("{}")
    monkeypatch.setenv("ALEXNET_BOOK_PROFILE", "smoke")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.delenv("ALEXNET_BOOK_CIFAR10_DIR", raising=False)
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")  # never a download from a test
    base = build_book.compute_key(package)
    assert base["key"]["profile"] == "smoke" and base["key"]["backend"] == "tensorflow"
    assert build_book.compute_key(package)["digest"] == base["digest"]  # stable

    monkeypatch.setenv("KERAS_BACKEND", "jax")
    jax = build_book.compute_key(package)
    assert jax["digest"] != base["digest"] and "backend tensorflow -> jax" in build_book.differences(base, jax)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")

    (package / "recorded" / "r.json").write_text('{"changed": true}')
    recorded = build_book.compute_key(package)
    assert recorded["digest"] != base["digest"]
    assert build_book.differences(base, recorded) == ["the package's source changed (recorded/r.json)"]

    monkeypatch.setenv("ALEXNET_BOOK_PROFILE", "quick")
    assert build_book.compute_key(package)["key"]["profile"] == "quick"


def test_the_korean_edition_is_built_from_the_english_execution(small_book):
    book, build, executions = small_book["book"], small_book["build"], small_book["executions"]
    korean = book / "ko"
    korean.mkdir()
    (korean / "_config.yml").write_text(CONFIG + "  config:\n    language: ko\n")
    (korean / "_toc.yml").write_text(TOC)
    (korean / "intro.md").write_text("# 작은 책\n\n페이지 하나와 노트북 하나.\n")
    twin = nbformat.read(book / "chapter.ipynb", 4)
    twin.cells[0].source = "# 장"
    nbformat.write(twin, korean / "chapter.ipynb")

    result, _ = build("smoke")
    assert executions() == ["smoke 1"]  # once, for both editions
    page = (book / "_build" / "html" / "ko" / "chapter.html").read_text()
    assert "장" in page and "This page ran the smoke profile" in page  # Korean prose, the English execution
    assert 'lang="ko"' in page and "nothing executed" in result.stdout
    served = json.loads((book / "_build" / "html" / "ko" / "_sources" / "chapter.ipynb").read_text())
    assert "".join(served["cells"][0]["source"]) == "# 장" and any(cell.get("outputs") for cell in served["cells"])

    twin.cells[1].source += "\nprint('only in Korean')"
    nbformat.write(twin, korean / "chapter.ipynb")
    result, _ = build("smoke", fail=True)
    assert "ko/chapter.ipynb: code cell 1 differs" in result.stdout and "editions.py sync" in result.stdout
    assert executions() == ["smoke 1"]  # refused before anything ran
