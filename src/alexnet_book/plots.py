"""The figures that more than one chapter draws: sample images, training curves, confusion matrix, mistakes.

Matplotlib only. Each function returns its figure (the notebook shows it; a script can save it), and takes plain
numpy arrays, so it works with every Keras backend and with results loaded from a run folder.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

# confusion_matrix and per_class_accuracy live in metrics; chapter 6 imports them from here with the figures.
from alexnet_book.metrics import check_labels, confusion_matrix, per_class_accuracy


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _check_images(images: np.ndarray, name: str = "images") -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{name} must be a batch of RGB images of shape (N, height, width, 3), got {images.shape}.")
    return images


def _as_displayable(image: np.ndarray) -> np.ndarray:
    """uint8 as it is; floats are assumed 0..1 when they fit there, else 0..255, and clipped."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    image = image.astype(np.float32)
    if image.max(initial=0) > 1.0:
        image = image / 255.0
    return np.clip(image, 0.0, 1.0)


def sample_grid(
    images, labels, class_names: Sequence[str], per_class: int = 8, seed: int = 0, title: str | None = None
):
    """One row per class with `per_class` of its images, picked at random (seeded)."""
    plt = _pyplot()
    images = _check_images(images)
    labels = check_labels(labels, "labels", len(class_names))
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(class_names), per_class, figsize=(per_class * 0.9, len(class_names) * 0.95))
    axes = np.asarray(axes).reshape(len(class_names), per_class)
    for row, name in enumerate(class_names):
        members = np.flatnonzero(labels == row)
        chosen = rng.choice(members, size=min(per_class, len(members)), replace=False) if len(members) else []
        for column in range(per_class):
            ax = axes[row, column]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if column < len(chosen):
                ax.imshow(_as_displayable(images[chosen[column]]), interpolation="nearest")
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=0.3)
    return fig


def image_row_grid(rows: Mapping[str, np.ndarray], title: str | None = None):
    """Rows of images with a label each, e.g. {"original": x, "augmented 1": a1, ...} for the same images."""
    plt = _pyplot()
    if not rows:
        raise ValueError("rows must name at least one batch of images.")
    batches = {label: _check_images(images, f"rows[{label!r}]") for label, images in rows.items()}
    columns = max(len(images) for images in batches.values())
    fig, axes = plt.subplots(len(batches), columns, figsize=(columns * 1.1, len(batches) * 1.2))
    axes = np.asarray(axes).reshape(len(batches), columns)
    for row, (label, images) in enumerate(batches.items()):
        for column in range(columns):
            ax = axes[row, column]
            ax.set_xticks([])
            ax.set_yticks([])
            if column < len(images):
                ax.imshow(_as_displayable(images[column]), interpolation="nearest")
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=0.3)
    return fig


def training_curves(history: Mapping[str, Sequence[float]], title: str | None = None):
    """Loss, accuracy and learning rate per epoch, training beside validation where both were logged.

    history: Keras's History.history or the run's CSV log read into a dict of columns (an "epoch" column,
    if there, gives the x axis; epochs are shown counted from 1).
    """
    plt = _pyplot()
    if "loss" not in history or not len(history["loss"]):
        raise ValueError(f"history must hold a non-empty 'loss' column, got columns {sorted(history)}.")
    count = len(history["loss"])
    epochs = np.asarray(history["epoch"], dtype=int) + 1 if "epoch" in history else np.arange(1, count + 1)
    panels = [("loss", "loss"), ("accuracy", "accuracy")]
    if "learning_rate" in history:
        panels.append(("learning_rate", "learning rate"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2))
    for ax, (key, label) in zip(np.atleast_1d(axes), panels):
        if key == "learning_rate":
            ax.plot(epochs, history[key], marker="o", color="tab:purple")
            ax.set_yscale("log")
        else:
            if key in history:
                ax.plot(epochs, history[key], marker="o", label="training")
            if f"val_{key}" in history:
                ax.plot(epochs, history[f"val_{key}"], marker="o", label="validation")
            ax.legend()
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix_figure(
    y_true, y_pred, class_names: Sequence[str], normalize: bool = True, title: str | None = None
):
    """The confusion matrix as a heat map; normalized rows show the share of each true class."""
    plt = _pyplot()
    counts = confusion_matrix(y_true, y_pred, len(class_names))
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        values = counts / np.maximum(totals, 1)
    else:
        values = counts
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    shown = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="share of the true class" if normalize else "images")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    threshold = values.max() / 2 if values.size else 0
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            text = f"{values[i, j]:.2f}" if normalize else f"{values[i, j]:d}"
            ax.text(
                j, i, text, ha="center", va="center", fontsize=7, color="white" if values[i, j] > threshold else "black"
            )
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def per_class_accuracy_figure(y_true, y_pred, class_names: Sequence[str], title: str | None = None):
    """Horizontal bars of each class's accuracy, with chance (1 / classes) marked."""
    plt = _pyplot()
    accuracy = per_class_accuracy(y_true, y_pred, len(class_names))
    fig, ax = plt.subplots(figsize=(6.0, 0.35 * len(class_names) + 1.0))
    ax.barh(range(len(class_names)), np.nan_to_num(accuracy), color="tab:blue")
    ax.axvline(1 / len(class_names), color="tab:red", linestyle="--", label="chance")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy on the test images of the class")
    for row, value in enumerate(accuracy):
        if not np.isnan(value):
            ax.text(min(value + 0.01, 0.9), row, f"{value:.0%}", va="center", fontsize=8)
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def mistakes_grid(
    images,
    y_true,
    y_pred,
    class_names: Sequence[str],
    probabilities=None,
    count: int = 16,
    columns: int = 8,
    title: str | None = None,
):
    """Misclassified images, each titled "true -> predicted"; the most confident mistakes first when
    probabilities (N, classes) are given."""
    plt = _pyplot()
    images = _check_images(images)
    y_true = check_labels(y_true, "y_true", len(class_names))
    y_pred = check_labels(y_pred, "y_pred", len(class_names))
    if not len(images) == len(y_true) == len(y_pred):
        raise ValueError(
            f"images, y_true and y_pred must have one entry per image, got {len(images)}, "
            f"{len(y_true)} and {len(y_pred)}."
        )
    wrong = np.flatnonzero(y_true != y_pred)
    if probabilities is not None:
        confidence = np.asarray(probabilities)[wrong, y_pred[wrong]]
        wrong = wrong[np.argsort(-confidence, kind="stable")]
    wrong = wrong[:count]
    rows = max(1, -(-len(wrong) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.25, rows * 1.8))
    axes = np.asarray(axes).reshape(rows, columns)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, wrong):
        ax.imshow(_as_displayable(images[index]), interpolation="nearest")
        label = f"{class_names[y_true[index]]}\n-> {class_names[y_pred[index]]}"
        if probabilities is not None:
            label += f" {np.asarray(probabilities)[index, y_pred[index]]:.0%}"
        ax.set_title(label, fontsize=7)
    if not len(wrong):
        axes.flat[0].text(0.5, 0.5, "no mistakes", ha="center", va="center", transform=axes.flat[0].transAxes)
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=0.3)
    return fig
