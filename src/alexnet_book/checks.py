"""Checks of arguments that the package's modules share: each error names the argument, what it must be, and
what it got."""

from __future__ import annotations

import numpy as np


def check_positive_int(name: str, value, allow_none: bool = False) -> None:
    """A whole number >= 1 (None too, with allow_none). bool is an int in Python, but True as a size is a mistake."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive whole number{' or None' if allow_none else ''}, got {value!r}.")
