"""The book's two editions: the English chapters and their Korean twins in ko/, which share every code cell.

A twin has the English notebook's cells in the same order: its code cells are byte for byte the English ones (with
the same metadata, so jupyter-cache, which keys an executed notebook by its code, serves the English execution to
both), and its markdown cells are their translations, one for one. A figure's caption, which lives in its code cell's
metadata, names a substitution ("{{ caption_ch6_curves }}") that each edition defines in its own notebook metadata
(myst.substitutions), in its own language. So the Korean site never runs anything of its own,
and a chapter's code cannot change in one edition only.

  python tools/editions.py check   lists every twin whose cells do not line up with its English chapter's
  python tools/editions.py sync    copies the English code cells into the twins, after a change to a chapter's
                                   code (then read the Korean prose around what changed)
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import nbformat
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
KOREAN = "ko"  # the Korean edition's folder, beside the English book's files
# Tags papermill gives the cell it inserts with a run's parameters: it is in an executed notebook, not in a source.
INJECTED = "injected-parameters"


def toc_files(toc: Path = REPO_ROOT / "_toc.yml") -> list[str]:
    """Every file a table of contents (the English book's by default) lists, in order, without suffix
    ("chapters/01_...")."""
    data = yaml.safe_load(toc.read_text())
    files = [data["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in data.get("parts", []):
        walk(part.get("chapters"))
    walk(data.get("chapters"))
    return files


def twins(book: Path = REPO_ROOT) -> list[tuple[Path, Path]]:
    """(English notebook, its Korean twin) for every notebook of the English table of contents."""
    return [
        (book / f"{page}.ipynb", book / KOREAN / f"{page}.ipynb")
        for page in toc_files(book / "_toc.yml")
        if (book / f"{page}.ipynb").exists()
    ]


def substitutions(notebook) -> dict:
    """The notebook's own MyST substitutions (its figure captions, in its language)."""
    return dict(notebook.metadata.get("myst", {}).get("substitutions", {}))


def _source_cells(notebook) -> list:
    return [cell for cell in notebook.cells if INJECTED not in cell.get("metadata", {}).get("tags", [])]


def differences(english, korean, metadata: bool = True) -> list[str]:
    """Where a Korean twin does not line up with its English notebook (both nbformat notebooks), in words;
    metadata=False leaves out the code cells' metadata (which an execution adds to)."""
    found = []
    if english.metadata.get("kernelspec") != korean.metadata.get("kernelspec"):
        found.append("the notebook's kernelspec differs (jupyter-cache keys the execution by it)")
    ours_words, theirs_words = substitutions(english), substitutions(korean)
    if set(ours_words) != set(theirs_words):
        found.append(
            "the notebook's substitutions (figure captions) differ: "
            f"only English {sorted(set(ours_words) - set(theirs_words))}, "
            f"only Korean {sorted(set(theirs_words) - set(ours_words))}"
        )
    ours, theirs = _source_cells(english), _source_cells(korean)
    if [c.cell_type for c in ours] != [c.cell_type for c in theirs]:
        found.append(
            f"the cells differ in number or kind: English {''.join(c.cell_type[0] for c in ours)}, "
            f"Korean {''.join(c.cell_type[0] for c in theirs)} (c: code, m: markdown)"
        )
        return found
    for number, (a, b) in enumerate(zip(ours, theirs)):
        if a.cell_type != "code":
            continue
        if a.source != b.source:
            first = next(i for i, (x, y) in enumerate(zip(a.source + "\0", b.source + "\1")) if x != y)
            line = a.source[:first].count("\n") + 1
            found.append(f"code cell {number} differs from line {line} on")
        elif metadata and a.metadata != b.metadata:
            found.append(f"code cell {number}'s metadata differs ({dict(a.metadata)} against {dict(b.metadata)})")
    return found


def check(book: Path = REPO_ROOT) -> list[str]:
    """Every problem with the Korean twins of `book`, one line each, naming the files."""
    problems = []
    for english_path, korean_path in twins(book):
        if not korean_path.exists():
            problems.append(f"{korean_path.relative_to(book)}: missing (the Korean twin of {english_path.name})")
            continue
        found = differences(nbformat.read(english_path, 4), nbformat.read(korean_path, 4))
        problems += [f"{korean_path.relative_to(book)}: {problem}" for problem in found]
    return problems


def sync(english_path: Path, korean_path: Path) -> bool:
    """Copy the English notebook's code cells (and its kernelspec) into its Korean twin, keeping the Korean
    markdown. The cells must already be in the same order (a new or moved cell needs its translation by hand).
    Returns whether the twin changed."""
    english, korean = nbformat.read(english_path, 4), nbformat.read(korean_path, 4)
    if [c.cell_type for c in english.cells] != [c.cell_type for c in korean.cells]:
        raise ValueError(
            f"{korean_path}: its cells are not in the English notebook's order, so the code cannot be copied cell "
            "by cell: add, remove or move the Korean cells to match (a new markdown cell needs a translation)."
        )
    before = nbformat.writes(korean)
    korean.metadata["kernelspec"] = copy.deepcopy(english.metadata.get("kernelspec"))
    for ours, theirs in zip(english.cells, korean.cells):
        if ours.cell_type == "code":
            theirs.source, theirs.metadata = ours.source, copy.deepcopy(ours.metadata)
    if nbformat.writes(korean) == before:
        return False
    nbformat.write(korean, korean_path)
    return True


def with_executed_code(korean, executed_english):
    """The Korean twin with the code cells (and outputs) of its English notebook as executed: the English
    execution, with the twin's markdown and captions. papermill's parameter cell is kept where the execution has it."""
    found = differences(executed_english, korean, metadata=False)
    if found:
        raise ValueError("the Korean twin does not line up with the executed English notebook: " + "; ".join(found))
    result = copy.deepcopy(executed_english)
    result.metadata["myst"] = copy.deepcopy(korean.metadata.get("myst", {}))  # the Korean captions
    translations = iter(cell for cell in korean.cells if cell.cell_type == "markdown")
    for number, cell in enumerate(result.cells):
        if cell.cell_type == "markdown":
            result.cells[number] = copy.deepcopy(next(translations))
    return result


def main(argv: list[str]) -> int:
    if argv not in (["check"], ["sync"]):
        print(__doc__, file=sys.stderr)
        return 2
    if argv == ["sync"]:
        for english_path, korean_path in twins():
            if not korean_path.exists():
                print(f"{korean_path.relative_to(REPO_ROOT)}: missing, copy {english_path.name} there and translate")
                continue
            changed = sync(english_path, korean_path)
            print(("updated " if changed else "already in line ") + str(korean_path.relative_to(REPO_ROOT)))
    problems = check()
    for problem in problems:
        print(problem)
    if problems:
        print("run `python tools/editions.py sync` (see its docstring) and read the Korean prose around the change.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
