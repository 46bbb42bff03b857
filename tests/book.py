"""What the notebook and site tests share: the chapters listed in _toc.yml, executing them with papermill,
and building the site from the executed copies (so that no notebook runs twice), the Korean edition's too: its
twins take the English executions' code cells and outputs (tools/editions.py), as `make book` serves them the
English execution cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from editions import toc_files  # noqa: E402  (tools/editions.py: the table of contents, read one way everywhere)

REPO_ROOT = Path(__file__).resolve().parent.parent
# Build output of the tests, kept for a human to open (and CI to keep as artifacts); never committed. The chapters
# run on the Keras backend of the test process (KERAS_BACKEND, TensorFlow by default); each backend's build has
# its own folder, so that `make test-jax` leaves `make test`'s site and screenshots alone.
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
TEST_BUILD = REPO_ROOT / "_build" / ("test" if BACKEND == "tensorflow" else f"test-{BACKEND}")
BOOK_COPY = TEST_BUILD / "book"
SITE = BOOK_COPY / "_build" / "html"
KOREAN = "ko"  # the Korean edition's folder in the book, and its site's in SITE
KOREAN_SITE = SITE / KOREAN
# s: the longest any one cell may run under papermill. At the smoke profile the slowest chapter takes a few minutes in
# all, so a cell still running after 15 minutes has hung (a deadlocked data pipeline, a kernel waiting on input):
# it then fails that chapter's test instead of holding CI until the job's own limit kills it without a word.
CELL_TIMEOUT_S = 900
# Real CIFAR-10 for the chapters when the test run names a folder (.ci/run does): only the notebook kernels get it.
# The unit tests build their data themselves, and a stand-in fixture must not turn into real images because the
# variable is set, so it leaves this process's environment here (conftest imports this module first).
NOTEBOOK_DATA_DIR = os.environ.pop("ALEXNET_BOOK_CIFAR10_DIR", None)


def toc_notebooks() -> list[Path]:
    return [REPO_ROOT / f"{f}.ipynb" for f in toc_files() if (REPO_ROOT / f"{f}.ipynb").exists()]


def _test_config(source: Path, target: Path) -> None:
    """`source` (a _config.yml) written to `target` without executing notebooks (the tests put executed ones in),
    its local extensions found where they are in the repository."""
    config = yaml.safe_load(source.read_text())
    config["execute"]["execute_notebooks"] = "off"
    extensions = config.get("sphinx", {}).get("local_extensions") or {}
    for name, where in extensions.items():
        extensions[name] = str((source.parent / where).resolve())
    target.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


def prepare_book_copy() -> None:
    """A copy of the book's sources, both editions, whose configs do not execute notebooks."""
    if BOOK_COPY.exists():
        shutil.rmtree(BOOK_COPY)
    BOOK_COPY.mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "book", BOOK_COPY / "book")
    # Only the sources: a reader's own run folders (runs/, gigabytes of checkpoints) must not leak into the test.
    shutil.copytree(
        REPO_ROOT / "chapters", BOOK_COPY / "chapters", ignore=shutil.ignore_patterns("runs", ".ipynb_checkpoints")
    )
    shutil.copy(REPO_ROOT / "_toc.yml", BOOK_COPY / "_toc.yml")
    shutil.copytree(REPO_ROOT / "_static", BOOK_COPY / "_static")  # the book's CSS
    _test_config(REPO_ROOT / "_config.yml", BOOK_COPY / "_config.yml")
    shutil.copytree(REPO_ROOT / KOREAN, BOOK_COPY / KOREAN, ignore=shutil.ignore_patterns("runs", ".*", "_build"))
    _test_config(REPO_ROOT / KOREAN / "_config.yml", BOOK_COPY / KOREAN / "_config.yml")


class Executions:
    """Runs each notebook once per test session, in the book copy, and remembers the outcome."""

    def __init__(self, parameters: dict):
        self.parameters = parameters
        self.results: dict[str, tuple[float, BaseException | None]] = {}

    def run(self, notebook: Path) -> tuple[float, BaseException | None]:
        key = notebook.relative_to(REPO_ROOT).as_posix()
        if key not in self.results:
            import papermill

            target = BOOK_COPY / key
            # Kernels inherit this process's environment; a non-interactive backend there (MPLBACKEND=Agg)
            # would replace the inline one and every figure would silently vanish from the pages.
            os.environ.pop("MPLBACKEND", None)
            if NOTEBOOK_DATA_DIR:
                os.environ["ALEXNET_BOOK_CIFAR10_DIR"] = NOTEBOOK_DATA_DIR
            started = time.perf_counter()
            error = None
            try:
                papermill.execute_notebook(
                    str(notebook),
                    str(target),
                    parameters=self.parameters,
                    kernel_name="python3",
                    cwd=str(target.parent),  # anything a chapter writes (runs/) stays in the copy
                    progress_bar=False,
                    execution_timeout=CELL_TIMEOUT_S,  # passed on to nbclient: a hung cell raises, see above
                )
            except Exception as exc:  # kept, reported by the test of that notebook
                error = exc
            finally:
                os.environ.pop("ALEXNET_BOOK_CIFAR10_DIR", None)
            self.results[key] = (time.perf_counter() - started, error)
        return self.results[key]


def build_site() -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(BOOK_COPY), "-W", "-n", "--keep-going"]
    return subprocess.run(command, capture_output=True, text=True)


def build_korean_site() -> subprocess.CompletedProcess:
    """The Korean edition from the English executions (each twin with its English chapter's executed code cells),
    into KOREAN_SITE, where `make book` puts it."""
    import editions
    import nbformat

    for english, korean in editions.twins(REPO_ROOT):
        executed = nbformat.read(BOOK_COPY / english.relative_to(REPO_ROOT), 4)
        twin = editions.with_executed_code(nbformat.read(korean, 4), executed)
        nbformat.write(twin, BOOK_COPY / korean.relative_to(REPO_ROOT))
    output = BOOK_COPY / "_build" / KOREAN
    command = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(BOOK_COPY / KOREAN),
        "--path-output",
        str(output),
        "-W",
        "-n",
        "--keep-going",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode == 0:
        shutil.rmtree(KOREAN_SITE, ignore_errors=True)
        shutil.copytree(output / "_build" / "html", KOREAN_SITE)
    return result
