"""Checks of arguments that the package's modules share: each error names the argument, what it must be, and
what it got."""

from __future__ import annotations

import math

import numpy as np


def check_positive_int(name: str, value, allow_none: bool = False) -> None:
    """A whole number >= 1 (None too, with allow_none). bool is an int in Python, but True as a size is a mistake."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive whole number{' or None' if allow_none else ''}, got {value!r}.")


def check_seed(name: str, value) -> None:
    """A random seed: a whole number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}.")


def check_number(name: str, value, low: float, high: float, low_open: bool = False) -> None:
    """A finite number in [low, high], or in (low, high] with low_open."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
    ):
        raise ValueError(f"{name} must be a number, got {value!r}.")
    if value < low or (low_open and value == low) or value > high:
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low} and <= {high}, got {value!r}.")
