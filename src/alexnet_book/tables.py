"""Tables for the chapters: aligned plain text for printouts (reads the same in a terminal and on the site), and
markdown for a table the page renders. No pandas needed."""

from __future__ import annotations

from typing import Sequence


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Align columns: the first column left, the others right (they hold numbers and shapes)."""
    table = [tuple(header), *(tuple(str(cell) for cell in row) for row in rows)]
    if any(len(line) != len(table[0]) for line in table):
        raise ValueError(f"every row needs {len(table[0])} cells, one per header column.")
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    lines = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
        for line in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A markdown (GitHub-flavoured) table, for `IPython.display.Markdown`: one row per line, cells as str(cell),
    a "|" inside a cell escaped so that it does not split the cell."""
    table = [tuple(header), *(tuple(row) for row in rows)]
    if any(len(line) != len(table[0]) for line in table):
        raise ValueError(f"every row needs {len(table[0])} cells, one per header column.")

    def line(cells) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(table[0]), line(["---"] * len(table[0])), *(line(row) for row in table[1:])])
