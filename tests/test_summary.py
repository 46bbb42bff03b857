"""layer_summary and cost_table: shapes, parameters, multiply-adds and activation memory per layer."""

import keras
import pytest

from alexnet_book.architecture import alexnet_layers, shape_table
from alexnet_book.model import build_alexnet
from alexnet_book.summary import cost_table, layer_summary


@pytest.fixture(scope="module")
def single_stream():
    return build_alexnet("paper", groups=1)


@pytest.mark.parametrize("groups", [1, 2], ids=["one stream", "two groups"])
def test_cost_table_counts_the_multiply_adds_the_shape_table_derives(groups, single_stream):
    # The shape table derives each layer's work from the layer list (its numbers are checked in test_architecture);
    # the cost table measures the built Keras layers, a grouped conv's halved work and LRN's none included.
    model = single_stream if groups == 1 else build_alexnet("paper")
    table = cost_table(model)
    rows = shape_table(227, alexnet_layers(groups=groups))
    for row in rows:
        assert table.row(row.name).multiply_adds == row.multiply_adds, row.name
    assert table.total_multiply_adds == sum(row.multiply_adds for row in rows)
    assert table.total_parameters == model.count_params()


def test_activation_memory_is_each_output_in_float32_for_the_batch(single_stream):
    assert cost_table(single_stream, 128).row("conv1").activation_bytes == 55 * 55 * 96 * 128 * 4
    assert (
        cost_table(single_stream, 64).total_activation_bytes * 2
        == cost_table(single_stream, 128).total_activation_bytes
    )


def test_cost_table_prints_totals(single_stream):
    text = str(cost_table(single_stream))
    assert text.splitlines()[-1].startswith("total") and "62,378,344" in text and "batch 128" in text


def test_layer_summary_of_a_list_of_new_layers():
    layers = [
        keras.layers.Conv2D(96, 11, strides=4, name="c1"),
        keras.layers.MaxPooling2D(3, 2, name="p1"),
        keras.layers.Flatten(name="f"),
        keras.layers.Dense(10, name="d"),
    ]
    rows = layer_summary(layers, (227, 227, 3))
    assert [(r.name, r.output_shape) for r in rows] == [
        ("c1", (55, 55, 96)),
        ("p1", (27, 27, 96)),
        ("f", (27 * 27 * 96,)),
        ("d", (10,)),
    ]
    assert rows.total_parameters == 11 * 11 * 3 * 96 + 96 + 27 * 27 * 96 * 10 + 10


def test_layer_summary_of_a_model_with_uint8_input():
    model = build_alexnet("cifar10", raw_image_size=32, input_size=67)
    rows = layer_summary(model, (32, 32, 3))
    assert rows[0].name == "rescale" and rows[-1].output_shape == (10,)
    assert rows.total_parameters == model.count_params()
    assert "total" in str(rows)


def test_bad_arguments_are_refused(single_stream):
    with pytest.raises(ValueError, match="batch_size must be a positive whole number"):
        cost_table(single_stream, batch_size=0)
    with pytest.raises(ValueError, match="built Keras model"):
        cost_table([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="without the batch axis"):
        layer_summary(single_stream, (None, 227, 227, 3))
    with pytest.raises(KeyError, match="no layer named 'conv9'"):
        cost_table(single_stream).row("conv9")
