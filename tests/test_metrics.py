"""alexnet_book.metrics: the confusion matrix and each class's accuracy, from class indices."""

import numpy as np
import pytest

from alexnet_book import metrics


def test_confusion_matrix_counts_rows_as_truth():
    counts = metrics.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], 3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert counts.sum() == 6


def test_per_class_accuracy_and_empty_classes():
    accuracy = metrics.per_class_accuracy([0, 0, 1, 1], [0, 1, 1, 1], 3)
    assert accuracy[:2].tolist() == [0.5, 1.0] and np.isnan(accuracy[2])


@pytest.mark.parametrize("y_pred, message", [([0, 10], "0..9"), ([0], "same length"), ([-1, 0], "0..9")])
def test_bad_labels_are_named(y_pred, message):
    with pytest.raises(ValueError, match=message):
        metrics.confusion_matrix([0, 1], y_pred, 10)
