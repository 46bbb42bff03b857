"""The split of CIFAR-10's training images into training and validation images, as the post made it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from alexnet_book.data import CIFAR10

VALIDATION_FRACTION = 0.2  # as the post's train_test_split(test_size=0.2)


def training_subsets(data: CIFAR10, train_size, validation_size, seed: int, names=("train_size", "validation_size")):
    """The seeded 80/20 split of data's training images, then the first train_size and validation_size images of
    each part (None: all of it), as (x_train, y_train, x_validation, y_validation). The training chapter and the
    experiments both cut their images this way; `names` are the caller's names for the two sizes, for errors."""
    x_train, x_val, y_train, y_val = train_validation_split(data.x_train, data.y_train, VALIDATION_FRACTION, seed)
    chosen = []
    for name, wanted, available in zip(names, (train_size, validation_size), (len(x_train), len(x_val))):
        if wanted is not None and wanted > available:
            raise ValueError(
                f"{name}={wanted} but the {data.source} data has only {available} such images after the "
                f"{1 - VALIDATION_FRACTION:.0%}/{VALIDATION_FRACTION:.0%} split: ask for at most {available}, "
                "use more data, or None for all of them."
            )
        chosen.append(available if wanted is None else wanted)
    return x_train[: chosen[0]], y_train[: chosen[0]], x_val[: chosen[1]], y_val[: chosen[1]]


def train_validation_split(
    x: np.ndarray, y: np.ndarray, validation_fraction: float = 0.2, seed: int = 42
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, x_validation, y_train, y_validation): scikit-learn's train_test_split, the post's own call
    (train_test_split(x, y, test_size=0.2, random_state=42)), so that seed 42 gives the post's split image for
    image. The validation part gets ceil(fraction * N) images.
    """
    from sklearn.model_selection import train_test_split

    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}.")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must lie strictly between 0 and 1, got {validation_fraction!r}.")
    n_validation = int(np.ceil(validation_fraction * len(x)))
    if n_validation >= len(x):
        raise ValueError(f"{len(x)} images are too few to keep a validation fraction of {validation_fraction}.")
    x_train, x_validation, y_train, y_validation = train_test_split(
        x, y, test_size=validation_fraction, random_state=seed
    )
    assert len(x_validation) == n_validation  # what images_needed and the error messages count on
    return x_train, x_validation, y_train, y_validation
