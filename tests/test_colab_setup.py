"""The chapters' Colab setup cell, run in a clean environment: it installs the book's package and nothing else.

The environment stands in for Colab: a new virtual environment whose Python sees this test environment's packages
(TensorFlow, Keras, numpy, matplotlib, as Colab has them) but not the book's package. In CI's TensorFlow run
(`make test CONSTRAINTS=constraints/colab.txt`) those are Colab's own versions, so the setup cell is tried against
what Colab has. The setup cell is chapter 1's, as stored; ALEXNET_BOOK_SOURCE points it at a copy of this checkout
instead of the repository on GitHub, which pip builds and installs; `pip freeze` before and after shows that no
package Colab has was added, upgraded or removed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import venv
from pathlib import Path

from book import REPO_ROOT

CANONICAL_SETUP_NOTEBOOK = REPO_ROOT / "chapters" / "01_convolution_arithmetic.ipynb"
# Python packages a Colab runtime ships (November 2026): the package may depend on these and nothing else, so
# that its install on Colab adds the package alone. Check Colab's `pip list` before adding a name here.
COLAB_SHIPS = {"keras", "numpy", "matplotlib", "scikit-learn", "scipy", "pandas", "tensorflow", "jax"}
# What a pip build of the package does not need, or must not see (a local build, an editable install's metadata).
NOT_COPIED = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "_build",
    "build",
    "runs",
    "node_modules",
    "*.egg-info",
    "__pycache__",
    ".*cache*",
    ".hypothesis",
    "*.keras",
    "*.h5",
)


def setup_cell_source() -> str:
    nb = json.loads(CANONICAL_SETUP_NOTEBOOK.read_text())
    cells = [
        "".join(c["source"])
        for c in nb["cells"]
        if "remove-cell" in c.get("metadata", {}).get("tags", [])
        and 'find_spec("alexnet_book")' in "".join(c["source"])
    ]
    assert len(cells) == 1, (
        f"{CANONICAL_SETUP_NOTEBOOK.name}: expected one setup cell (tagged remove-cell) that installs alexnet_book"
    )
    return cells[0]


def colab_like_environment(root: Path) -> Path:
    """A new venv that sees this environment's packages except the book's own; returns its python."""
    base = root / "preinstalled"  # Colab's preinstalled packages (pip among them): links to ours, less alexnet_book
    base.mkdir()
    for packages in site.getsitepackages():
        for entry in Path(packages).iterdir():
            if "alexnet" not in entry.name.lower() and not (base / entry.name).exists():
                (base / entry.name).symlink_to(entry)
    venv.EnvBuilder(with_pip=False).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    own = Path(run(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    # addsitedir (not a bare path) so that the .pth files among the preinstalled packages are processed too.
    (own / "preinstalled.pth").write_text(f"import site; site.addsitedir({str(base)!r})\n")
    return python


def run(python: Path, code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    clean.update(PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **env)
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=clean, cwd=python.parent)


def frozen(python: Path) -> set[str]:
    """`pip freeze --all` of the environment: every distribution it can import, the preinstalled ones too."""
    result = run(
        python, "import sys, runpy; sys.argv = ['pip', 'freeze', '--all']; runpy.run_module('pip', run_name='__main__')"
    )
    assert result.returncode == 0, f"pip freeze failed in the Colab stand-in:\n{result.stderr[-2000:]}"
    return set(result.stdout.splitlines())


def installed(python: Path) -> set[str]:
    """Distributions in the venv's own site-packages (what an install added), not the preinstalled ones."""
    listing = run(
        python, "import sysconfig, os; print('\\n'.join(os.listdir(sysconfig.get_paths()['purelib'])))"
    ).stdout
    return {line.split("-")[0].lower() for line in listing.split() if line.endswith(".dist-info")}


def test_setup_cell_installs_the_package_and_nothing_else_in_a_clean_environment(tmp_path):
    python = colab_like_environment(tmp_path)
    found = run(
        python,
        "import importlib.util as u; "
        "print([m for m in ('alexnet_book', 'tensorflow', 'keras', 'numpy', 'matplotlib', 'pip') if u.find_spec(m)])",
    )
    assert found.stdout.strip() == str(["tensorflow", "keras", "numpy", "matplotlib", "pip"]), (
        "the Colab stand-in must have TensorFlow, Keras, numpy, matplotlib and pip, and not alexnet_book; "
        f"it has {found.stdout}{found.stderr}"
    )

    source = tmp_path / "alexnet-book"
    shutil.copytree(REPO_ROOT, source, ignore=NOT_COPIED)
    before, freeze_before = installed(python), frozen(python)
    cell = setup_cell_source()
    first = run(python, cell, ALEXNET_BOOK_SOURCE=str(source))
    assert first.returncode == 0, (
        f"the setup cell failed in a clean environment:\n{first.stdout[-3000:]}\n{first.stderr[-3000:]}"
    )
    added = installed(python) - before
    assert added == {"alexnet_book"}, (
        f"the setup cell installed {sorted(added)}; it must install alexnet_book only (Colab's TensorFlow, Keras, "
        "numpy and matplotlib are used as they are): check pyproject.toml's dependencies"
    )
    freeze_after = frozen(python)
    changed = sorted((freeze_before ^ freeze_after) - {line for line in freeze_after if is_the_book(line)})
    assert not changed, (
        f"installing the package changed packages Colab already has (lines of `pip freeze` before ^ after): {changed}"
    )
    assert any(is_the_book(line) for line in freeze_after - freeze_before), "pip freeze does not show alexnet-book"

    imported = run(
        python,
        "import importlib, pkgutil, alexnet_book\n"
        "for m in pkgutil.walk_packages(alexnet_book.__path__, 'alexnet_book.'): importlib.import_module(m.name)\n"
        "print(alexnet_book.__file__)",
    )
    assert imported.returncode == 0, (
        f"the installed package does not import on the Colab stand-in:\n{imported.stderr[-3000:]}"
    )
    assert str(tmp_path / "venv") in imported.stdout, (
        f"alexnet_book was imported from {imported.stdout.strip()}, not from the clean venv"
    )

    again = run(python, cell + "\nprint('done')", ALEXNET_BOOK_SOURCE=str(tmp_path / "nowhere"))
    assert again.returncode == 0 and again.stdout.strip() == "done", (
        f"run a second time (package present), the setup cell must do nothing:\n{again.stdout}{again.stderr[-2000:]}"
    )


def is_the_book(freeze_line: str) -> bool:
    return re.split(r"[ =@]", freeze_line, maxsplit=1)[0].lower().replace("_", "-") == "alexnet-book"


def test_the_package_depends_only_on_what_colab_ships():
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    declared = re.search(r"^dependencies = \[(.*?)\]", pyproject, re.MULTILINE | re.DOTALL).group(1)
    names = {re.match(r"[A-Za-z0-9_.-]+", item.strip().strip('"')).group(0).lower() for item in declared.split(",")}
    assert names and names <= COLAB_SHIPS, f"not on Colab, so the setup cell would install them: {names - COLAB_SHIPS}"
