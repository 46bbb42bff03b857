"""Looking inside a trained network: a layer's features, nearest neighbours, a PCA projection, conv1's filters.

Backend-neutral Keras 3 for the model part; numpy for the rest (no scikit-learn), so the functions also work on
features saved from an earlier run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from alexnet_book.checks import check_positive_int, check_whole_number

METRICS = ("cosine", "euclidean")


# --------------------------------------------------------------------------------------------------
# Features of named layers


def layer_names(model) -> list[str]:
    """The names of a model's layers, in order."""
    return [layer.name for layer in model.layers]


def get_layer(model, name: str):
    """model.get_layer(name), with an error that lists the layers the model does have."""
    if not isinstance(name, str):
        raise TypeError(f"a layer is named by a string such as 'fc7', got {name!r}.")
    names = layer_names(model)
    if name not in names:
        raise ValueError(
            f"model {model.name!r} has no layer named {name!r}. Its layers are: {', '.join(names)}. "
            "Pass one of these names."
        )
    return model.get_layer(name)


def feature_extractor(model, names: Sequence[str]):
    """A Keras model with the same input as `model` whose outputs are the named layers' outputs (a dict by name)."""
    import keras

    if isinstance(names, str):
        names = [names]
    if not names:
        raise ValueError("name at least one layer, e.g. ['conv1', 'fc7'].")
    outputs = {name: get_layer(model, name).output for name in names}
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs  # a single input stays a tensor, not a list
    return keras.Model(inputs, outputs, name=f"{model.name}_features")


def layer_features(model, names: str | Sequence[str], images, batch_size: int = 64):
    """The output of one named layer for a batch of images (a numpy array, one row per image), or, for a list
    of names, a dict of such arrays by name. The model runs in inference mode: dropout and augmentation are off.
    """
    import keras

    single = isinstance(names, str)
    wanted = [names] if single else list(names)
    extractor = feature_extractor(model, wanted)
    images = np.asarray(images)
    if len(images) == 0:
        raise ValueError("images is empty: pass at least one image.")
    check_positive_int("batch_size", batch_size)
    # Called batch by batch rather than through predict(): a new extractor per call would make TensorFlow trace a
    # new predict function each time (and warn about retracing); the direct call traces nothing.
    batches = {name: [] for name in wanted}
    for start in range(0, len(images), batch_size):
        outputs = extractor(images[start : start + batch_size], training=False)
        for name in wanted:
            batches[name].append(keras.ops.convert_to_numpy(outputs[name]))
    features = {name: np.concatenate(parts) for name, parts in batches.items()}
    return features[names] if single else features


# --------------------------------------------------------------------------------------------------
# Nearest neighbours


def nearest_neighbours(queries, items, k: int = 5, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances of the k items nearest to each query, nearest first: two arrays (len(queries), k),
    by scikit-learn's exhaustive search (NearestNeighbors, algorithm="brute"). Rows are flattened to vectors.

    cosine: 1 - cos(angle), in 0..2; a zero vector has no direction, so it is at distance 1 from everything.
    euclidean: the straight-line distance.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: choose one of {', '.join(map(repr, METRICS))}.")
    check_positive_int("k", k)
    if k > len(items):
        raise ValueError(f"k must be at most the number of items ({len(items)}), got {k!r}.")
    q, x = _as_rows(queries, "queries"), _as_rows(items, "items")
    if q.shape[1] != x.shape[1]:
        raise ValueError(f"queries and items must have the same number of features, got {q.shape[1]} and {x.shape[1]}.")
    from sklearn.neighbors import NearestNeighbors

    distances, order = NearestNeighbors(n_neighbors=k, metric=metric, algorithm="brute").fit(x).kneighbors(q)
    return order, distances


def neighbour_label_agreement(query_labels, item_labels, neighbour_indices) -> float:
    """The share of all the neighbours found that carry their query's label (chance is about 1 / classes)."""
    query_labels = np.asarray(query_labels).reshape(-1)
    neighbour_indices = np.asarray(neighbour_indices)
    if neighbour_indices.ndim != 2 or len(neighbour_indices) != len(query_labels):
        raise ValueError(
            f"neighbour_indices must have one row per query ({len(query_labels)}), got {neighbour_indices.shape}."
        )
    return float(np.mean(np.asarray(item_labels).reshape(-1)[neighbour_indices] == query_labels[:, None]))


def _as_rows(values, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim < 2 or len(values) == 0:
        raise ValueError(f"{name} must be a non-empty batch, one row (or image) per item, got shape {values.shape}.")
    return values.reshape(len(values), -1)


# --------------------------------------------------------------------------------------------------
# PCA


@dataclass(frozen=True)
class PCA:
    """A fitted principal component analysis: `components` (k, features) are unit vectors, strongest first."""

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray

    def transform(self, values) -> np.ndarray:
        """Coordinates (N, k) of rows (flattened) along the components."""
        rows = _as_rows(values, "values")
        if rows.shape[1] != self.mean.shape[0]:
            raise ValueError(f"values have {rows.shape[1]} features, the PCA was fitted on {self.mean.shape[0]}.")
        return (rows - self.mean) @ self.components.T


def fit_pca(values, n_components: int = 2) -> PCA:
    """PCA of the rows (flattened), in float64.

    The components are the right singular vectors of the centred rows X = U S V^T, strongest first, and the variance
    along component i is s_i^2 / (n - 1). They are computed from the smaller of the square matrices X X^T and X^T X,
    whose eigenvalues are the s_i^2: for 1,000 rows of 4,096 features that is several times faster than the SVD of X.
    Where a wanted component has (almost) no variance its direction is ill-defined that way, and the SVD is used.
    Each component's sign is fixed so that its largest loading is positive: the same data give the same picture.
    """
    rows = _as_rows(values, "values")
    limit = min(rows.shape)
    check_positive_int("n_components", n_components)
    if n_components > limit:
        raise ValueError(f"n_components must be at most min(rows, features) = {limit}, got {n_components!r}.")
    mean = rows.mean(axis=0)
    centred = rows - mean
    total = float(np.sum(centred * centred))  # the sum of all s_i^2
    wide = len(centred) <= centred.shape[1]
    eigenvalues, vectors = np.linalg.eigh(centred @ centred.T if wide else centred.T @ centred)
    top = np.argsort(eigenvalues)[::-1][:n_components]
    squares = np.maximum(eigenvalues[top], 0.0)
    if total > 0 and squares.min() > 1e-9 * total:
        # eigenvectors of X X^T are the left singular vectors u_i; the components are X^T u_i / s_i
        components = (centred.T @ vectors[:, top] / np.sqrt(squares)).T if wide else vectors[:, top].T
    else:
        _, singular, vt = np.linalg.svd(centred, full_matrices=False)
        squares, components = singular[:n_components] ** 2, vt[:n_components]
    largest = np.argmax(np.abs(components), axis=1)
    components = components * np.sign(components[np.arange(n_components), largest])[:, None]
    variance = squares / max(len(rows) - 1, 1)
    ratio = squares / total if total > 0 else np.zeros_like(squares)
    return PCA(mean, components, variance, ratio)


# --------------------------------------------------------------------------------------------------
# conv1's filters as pictures


def normalise_per_filter(kernel) -> np.ndarray:
    """Each filter of a Keras kernel (height, width, channels, filters) stretched to 0..1 on its own.

    Per filter, because the filters' scales differ and one shared scale would leave most of them grey.
    A constant filter has no contrast to show and becomes mid-grey (0.5).
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 4:
        raise ValueError(f"a conv kernel has shape (height, width, channels, filters), got {kernel.shape}.")
    low = kernel.min(axis=(0, 1, 2), keepdims=True)
    span = kernel.max(axis=(0, 1, 2), keepdims=True) - low
    return np.where(span > 0, (kernel - low) / np.where(span > 0, span, 1.0), 0.5)


def filter_grid(kernel, columns: int | None = None, padding: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """RGB filters (a Keras kernel (height, width, 3, filters), e.g. conv1's (11, 11, 3, 96)) tiled into one
    image (rows * height + (rows + 1) * padding, columns * width + (columns + 1) * padding, 3) in 0..1,
    each filter normalised on its own, filled row by row; `pad_value` is the colour of the gaps (1.0 white).
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 4 or kernel.shape[2] != 3:
        raise ValueError(
            f"filter_grid draws RGB filters: a kernel of shape (height, width, 3, filters), got {kernel.shape}. "
            "Only the first conv layer sees the 3 colour channels; deeper layers' filters are not pictures."
        )
    height, width, _, count = kernel.shape
    columns = int(np.ceil(np.sqrt(count))) if columns is None else columns
    check_positive_int("columns", columns)
    check_whole_number("padding (pixels between the filters)", padding)
    rows = -(-count // columns)
    tiles = normalise_per_filter(kernel)
    grid = np.full(
        (rows * height + (rows + 1) * padding, columns * width + (columns + 1) * padding, 3),
        pad_value,
        dtype=np.float64,
    )
    for index in range(count):
        row, column = divmod(index, columns)
        top = padding + row * (height + padding)
        left = padding + column * (width + padding)
        grid[top : top + height, left : left + width] = tiles[..., index]
    return grid
