"""A machine whose NVIDIA GPU the Keras backend cannot use gets a loud stop, not a quiet CPU build.

A fake `nvidia-smi` first on PATH lists a GPU, while the test environment's backend (TensorFlow's or JAX's CPU
build) sees none: a machine on which `make book` would otherwise build the CPU edition without a word. There,
`make book` (tools/build_book.py) stops before executing anything, and start_page warns at the top of a notebook,
each naming the GPU, the backend and the fix, unless a CPU profile was chosen deliberately.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from alexnet_book.hardware import gpu_available, unused_gpu_warning
from alexnet_book.notebook import start_page
from book import REPO_ROOT

BUILD_SCRIPT = REPO_ROOT / "tools" / "build_book.py"
GPU_NAME = "NVIDIA A100-SXM4-40GB"


@pytest.fixture()
def fake_gpu(tmp_path, monkeypatch):
    """PATH with an nvidia-smi that lists GPU_NAME first, here and for every subprocess; returns that PATH."""
    if gpu_available():
        pytest.skip("the backend sees a real GPU here: a fake nvidia-smi cannot make it unused")
    folder = tmp_path / "fake-bin"
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\necho '{GPU_NAME}'\n")
    script.chmod(0o755)
    path = f"{folder}{os.pathsep}{os.environ['PATH']}"
    monkeypatch.setenv("PATH", path)
    monkeypatch.delenv("ALEXNET_BOOK_PROFILE", raising=False)
    return path


def small_book(folder: Path, marker: Path) -> Path:
    """A book of one page and one notebook that leaves `marker` behind when it executes."""
    folder.mkdir()
    (folder / "_config.yml").write_text(
        "title: GPU check\nauthor: test\nonly_build_toc_files: true\nexclude_patterns: ['.*', '**/.*']\n"
        "execute:\n  execute_notebooks: cache\n  timeout: 120\n"
    )
    (folder / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapter\n")
    (folder / "intro.md").write_text("# A small book\n\nOne page and one notebook.\n")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# The chapter"),
        nbformat.v4.new_code_cell(f"open({str(marker)!r}, 'w').write('executed')"),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / "chapter.ipynb")
    return folder


def build(book: Path, tmp_path: Path, **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "KERAS_BACKEND": "tensorflow", "KERAS_HOME": str(tmp_path / "keras_home"), **env}
    return subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), str(book)], env=environment, capture_output=True, text=True, timeout=600
    )


def test_make_book_stops_before_executing_anything_and_says_why(fake_gpu, tmp_path):
    marker = tmp_path / "executed.txt"
    book = small_book(tmp_path / "book", marker)
    result = build(book, tmp_path)
    assert result.returncode != 0, f"the build went on with an unused GPU:\n{result.stdout[-3000:]}"
    message = result.stderr
    for needed in (GPU_NAME, "Keras backend tensorflow", "tensorflow[and-cuda]", "ALEXNET_BOOK_PROFILE=quick"):
        assert needed in message, f"the stop must say {needed!r}:\n{message[-3000:]}"
    assert "Traceback" not in message, f"a sentence, not a traceback:\n{message[-3000:]}"
    assert not marker.exists() and not (book / "_build").exists(), "the build executed or wrote something first"


def test_make_book_goes_on_where_the_cpu_is_chosen_deliberately(fake_gpu, tmp_path):
    marker = tmp_path / "executed.txt"
    book = small_book(tmp_path / "book", marker)
    result = build(book, tmp_path, ALEXNET_BOOK_PROFILE="quick")
    assert result.returncode == 0, f"the build stopped:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert marker.exists() and (book / "_build" / "html" / "chapter.html").exists()


def test_start_page_warns_at_the_top_of_a_notebook(fake_gpu, capsys):
    assert start_page("auto").name == "quick"
    printed = capsys.readouterr().out
    first = printed.splitlines()[0]
    assert "This machine's GPU is not used" in first and GPU_NAME in first, (
        f"the warning must come first, before the versions: {printed[:2000]}"
    )
    assert "ALEXNET_BOOK_PROFILE=quick" in first and "tensorflow" in first


@pytest.mark.parametrize("chosen", ["smoke", "quick"])
def test_no_warning_where_a_cpu_profile_was_chosen(fake_gpu, capsys, monkeypatch, chosen):
    start_page(chosen)
    assert "GPU is not used" not in capsys.readouterr().out
    monkeypatch.setenv("ALEXNET_BOOK_PROFILE", chosen)
    start_page("auto")
    assert "GPU is not used" not in capsys.readouterr().out


def test_no_warning_where_nvidia_smi_lists_no_gpu(tmp_path, monkeypatch):
    folder = tmp_path / "fake-bin"
    folder.mkdir()
    failing = folder / "nvidia-smi"  # as it fails where the driver is not loaded
    failing.write_text(
        "#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the driver.'\nexit 9\n"
    )
    failing.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("ALEXNET_BOOK_PROFILE", raising=False)
    assert unused_gpu_warning("auto") is None


def test_the_fix_names_the_jax_cuda_wheels_on_the_jax_backend(fake_gpu, tmp_path):
    code = "from alexnet_book.hardware import unused_gpu_warning; print(unused_gpu_warning('full'))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "KERAS_BACKEND": "jax", "KERAS_HOME": str(tmp_path / "keras_home")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for needed in (GPU_NAME, "Keras backend jax", "jaxlib", "jax[cuda12]", "ALEXNET_BOOK_PROFILE=quick"):
        assert needed in result.stdout, f"{needed!r} missing from: {result.stdout}"
