"""alexnet_book.plots: figures built from plain arrays (the numbers behind them: test_metrics.py)."""

import matplotlib
import numpy as np
import pytest

from alexnet_book import metrics, plots

NAMES = tuple(f"c{k}" for k in range(10))


def test_figures_build_from_arrays():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(40) % 10
    predicted = (labels + (np.arange(40) % 3 == 0)) % 10  # every third image wrong
    probabilities = rng.dirichlet(np.ones(10), 40)
    history = {
        "epoch": [0, 1, 2],
        "loss": [2.3, 2.0, 1.8],
        "val_loss": [2.2, 2.1, 2.0],
        "accuracy": [0.1, 0.2, 0.3],
        "val_accuracy": [0.1, 0.15, 0.2],
        "learning_rate": [0.01, 0.01, 0.001],
    }

    grid = plots.sample_grid(images, labels, NAMES, per_class=3)
    assert len(grid.axes) == 30 and grid.axes[0].get_ylabel() == "c0"
    curves = plots.training_curves(history)
    assert [ax.get_ylabel() for ax in curves.axes] == ["loss", "accuracy", "learning rate"]
    assert list(curves.axes[0].lines[0].get_xdata()) == [1, 2, 3]  # epochs counted from 1
    matrix = plots.confusion_matrix_figure(labels, predicted, NAMES)
    shown = matrix.axes[0].images[0].get_array()
    np.testing.assert_allclose(np.asarray(shown).sum(axis=1), 1.0)  # normalized rows
    bars = plots.per_class_accuracy_figure(labels, predicted, NAMES)
    widths = [patch.get_width() for patch in bars.axes[0].patches]
    np.testing.assert_allclose(widths, metrics.per_class_accuracy(labels, predicted, 10))
    mistakes = plots.mistakes_grid(images, labels, predicted, NAMES, probabilities=probabilities, count=8, columns=4)
    titles = [ax.get_title() for ax in mistakes.axes if ax.get_title()]
    assert len(titles) == 8 and all("->" in title for title in titles)
    rows = plots.image_row_grid({"original": images[:4], "shifted": images[4:8]})
    assert len(rows.axes) == 8
    for figure in (grid, curves, matrix, bars, mistakes, rows):
        assert isinstance(figure, matplotlib.figure.Figure)
        matplotlib.pyplot.close(figure)


def test_most_confident_mistakes_come_first():
    images = np.zeros((4, 32, 32, 3), np.uint8)
    probabilities = np.full((4, 10), 0.0)
    probabilities[[0, 1, 2, 3], [1, 2, 3, 3]] = [0.5, 0.9, 0.7, 1.0]
    figure = plots.mistakes_grid(images, [0, 0, 0, 3], [1, 2, 3, 3], NAMES, probabilities=probabilities, columns=4)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles == ["c0\n-> c2 90%", "c0\n-> c3 70%", "c0\n-> c1 50%"]
    matplotlib.pyplot.close(figure)


def test_training_curves_need_a_loss_column():
    with pytest.raises(ValueError, match="'loss' column"):
        plots.training_curves({"accuracy": [0.1]})
