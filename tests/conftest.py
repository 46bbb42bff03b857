"""Test-wide safety: nothing a test runs may touch the reader's real Keras cache or home.

KERAS_HOME is read when keras is first imported, so it is set here, before any test module imports keras.
"""
import os
import tempfile
from pathlib import Path

_SANDBOX = Path(tempfile.mkdtemp(prefix="alexnet-book-tests-"))
os.environ["KERAS_HOME"] = str(_SANDBOX / "keras_home")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parent.parent

import pytest

from book import Executions, prepare_book_copy

SMOKE_PARAMETERS = {"PROFILE": "smoke"}


@pytest.fixture(scope="session")
def executions():
    """Executed notebooks of this session (papermill, PROFILE="smoke"), in a copy of the book."""
    prepare_book_copy()
    runs = Executions(SMOKE_PARAMETERS)
    _EXECUTIONS.append(runs)
    return runs


_EXECUTIONS: list = []


def pytest_terminal_summary(terminalreporter):
    for runs in _EXECUTIONS:
        if runs.results:
            terminalreporter.section("notebook execution times (papermill, PROFILE=smoke)")
            for name, (seconds, error) in runs.results.items():
                terminalreporter.write_line(f"{seconds:7.1f} s  {name}{'  FAILED' if error else ''}")
