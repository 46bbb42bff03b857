"""How right a classifier's predictions are, per class: the numbers behind chapter 6's figures.

Plain numpy arrays in and out (class indices, as Keras's sparse labels are), so they work with every Keras backend
and with predictions loaded from a run folder.
"""

from __future__ import annotations

import numpy as np


def check_labels(y, name: str, num_classes: int) -> np.ndarray:
    """`y` as a flat int64 array of class indices in 0..num_classes - 1, or a ValueError naming `name`."""
    y = np.asarray(y).reshape(-1)
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{name} must be class indices in 0..{num_classes - 1}, found {y.min()}..{y.max()}.")
    return y.astype(np.int64)


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    y_true = check_labels(y_true, "y_true", num_classes)
    y_pred = check_labels(y_pred, "y_pred", num_classes)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred must have the same length, got {len(y_true)} and {len(y_pred)}.")
    from sklearn.metrics import confusion_matrix as counts_by_class

    return counts_by_class(y_true, y_pred, labels=np.arange(num_classes)).astype(np.int64)


def per_class_accuracy(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Fraction of each class's images predicted right (NaN for a class with no image)."""
    counts = confusion_matrix(y_true, y_pred, num_classes)
    totals = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(counts) / np.maximum(totals, 1), np.nan)
