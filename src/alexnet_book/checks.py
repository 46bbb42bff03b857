"""Checks of arguments that the package's modules share: each error names the argument, what it must be, and
what it got."""

from __future__ import annotations

import math

import numpy as np


def is_whole_number(value) -> bool:
    """An int or a NumPy integer, and not a bool: bool is an int in Python, but True as a size is a mistake."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_whole_number(name: str, value, minimum: int = 0, allow_none: bool = False) -> None:
    """A whole number >= minimum (None too, with allow_none)."""
    if value is None and allow_none:
        return
    if not is_whole_number(value) or value < minimum:
        what = "a positive whole number" if minimum == 1 else f"a whole number >= {minimum}"
        raise ValueError(f"{name} must be {what}{' or None' if allow_none else ''}, got {value!r}.")


def check_positive_int(name: str, value, allow_none: bool = False) -> None:
    """A whole number >= 1 (None too, with allow_none): a size or a count."""
    check_whole_number(name, value, minimum=1, allow_none=allow_none)


def check_seed(name: str, value) -> None:
    """A random seed: a whole number >= 0."""
    check_whole_number(name, value, minimum=0)


def check_number(
    name: str, value, low: float, high: float = math.inf, low_open: bool = False, high_open: bool = False
) -> None:
    """A finite number (not a bool) in [low, high]; low_open and high_open leave out an end. With no high, any
    number >= low (> low with low_open)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
    ):
        raise ValueError(f"{name} must be a number, got {value!r}.")
    below = value < low or (low_open and value == low)
    above = value > high or (high_open and value == high)
    if below or above:
        bounds = f"{'>' if low_open else '>='} {low}"
        if high != math.inf:
            bounds += f" and {'<' if high_open else '<='} {high}"
        raise ValueError(f"{name} must be {bounds}, got {value!r}.")
