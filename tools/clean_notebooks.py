"""Remove outputs and execution counts from notebooks, keeping cell tags and metadata.

Usage: python tools/clean_notebooks.py chapters/*.ipynb
"""

import sys

import nbformat


def clean(path: str) -> bool:
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.outputs or cell.execution_count is not None:
            cell.outputs, cell.execution_count, changed = [], None, True
        for key in ("execution", "papermill"):  # run-time metadata papermill/Jupyter add
            changed |= cell.metadata.pop(key, None) is not None
    if changed:
        nbformat.write(nb, path)
    return changed


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print(("cleaned " if clean(path) else "already clean ") + path)
