"""Shared test set-up.

Safety first: nothing a test runs may touch the reader's real Keras cache or home. KERAS_HOME is read when
keras is first imported, so it is set here, before any test module imports keras; notebook kernels and
subprocesses inherit it.
"""

import os
import tempfile
from pathlib import Path

import pytest

_SANDBOX = Path(tempfile.mkdtemp(prefix="alexnet-book-tests-"))
os.environ["KERAS_HOME"] = str(_SANDBOX / "keras_home")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from book import (  # noqa: E402
    BACKEND,
    SITE,
    Executions,
    build_korean_site,
    build_site,
    prepare_book_copy,
    toc_notebooks,
)

SMOKE_PARAMETERS = {"PROFILE": "smoke"}
_EXECUTIONS: list = []


@pytest.fixture(scope="session")
def executions():
    """Executed notebooks of this session (papermill, PROFILE="smoke"), in a copy of the book."""
    prepare_book_copy()
    runs = Executions(SMOKE_PARAMETERS)
    _EXECUTIONS.append(runs)
    return runs


@pytest.fixture(scope="session")
def built_site(executions):
    """The site built (warnings as errors) from this session's executed notebooks, with the Korean edition from the
    same executions in its ko/ folder; the html folder."""
    for notebook in toc_notebooks():
        executions.run(notebook)
    failed = [name for name, (_, error) in executions.results.items() if error]
    if failed:
        pytest.fail(f"not building the site: these notebooks failed under papermill: {failed}")
    result = build_site()
    assert result.returncode == 0, (
        f"jupyter-book build failed (warnings are errors):\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    )
    korean = build_korean_site()
    assert korean.returncode == 0, (
        f"the Korean edition's build failed (warnings are errors):\n{korean.stdout[-6000:]}\n{korean.stderr[-6000:]}"
    )
    return SITE


def pytest_terminal_summary(terminalreporter):
    for runs in _EXECUTIONS:
        if runs.results:
            terminalreporter.section(f"notebook execution times (papermill, PROFILE=smoke, {BACKEND} backend)")
            for name, (seconds, error) in runs.results.items():
                terminalreporter.write_line(f"{seconds:7.1f} s  {name}{'  FAILED' if error else ''}")
