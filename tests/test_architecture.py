"""The layer list as data, and the shape table it gives."""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alexnet_book.architecture import (
    PAPER_LAYERS,
    LayerSpec,
    alexnet_layers,
    format_shape_table,
    shape_table,
)


def by_name(rows):
    return {row.name: row for row in rows}


def test_paper_layers_are_five_convs_three_pools_flatten_three_dense():
    kinds = [spec.kind for spec in PAPER_LAYERS]
    assert kinds.count("conv") == 5 and kinds.count("pool") == 3
    assert kinds.count("flatten") == 1 and kinds.count("dense") == 3
    assert [s.name for s in PAPER_LAYERS if s.lrn] == ["conv1", "conv2"]
    assert [s.name for s in PAPER_LAYERS if s.groups == 2] == ["conv2", "conv4", "conv5"]
    assert [s.name for s in PAPER_LAYERS if s.init_bias == 1] == ["conv2", "conv4", "conv5", "fc6", "fc7"]


def test_shape_table_at_227_matches_the_paper():
    rows = by_name(shape_table(227))
    expected = {
        "conv1": (55, 55, 96),
        "pool1": (27, 27, 96),
        "conv2": (27, 27, 256),
        "pool2": (13, 13, 256),
        "conv3": (13, 13, 384),
        "conv4": (13, 13, 384),
        "conv5": (13, 13, 256),
        "pool5": (6, 6, 256),
        "flatten": (9216,),
        "fc6": (4096,),
        "fc7": (4096,),
        "fc8": (1000,),
    }
    assert {name: row.output_shape for name, row in rows.items()} == expected
    # each layer's input is the previous layer's output
    table = shape_table(227)
    for before, after in zip(table, table[1:]):
        assert after.input_shape == before.output_shape


def test_224_does_not_give_the_papers_shapes():
    rows = by_name(shape_table(224))
    assert rows["conv1"].output_size == 54  # floor(54.25)
    assert rows["pool5"].output_shape != (6, 6, 256)


def test_parameter_counts_paper_and_single_stream():
    assert sum(r.parameters for r in shape_table(227)) == 60_965_224
    assert sum(r.parameters for r in shape_table(227, alexnet_layers(groups=1))) == 62_378_344
    assert sum(r.parameters for r in shape_table(227, alexnet_layers(num_classes=10, groups=1))) == 58_322_314


def test_grouping_halves_the_weights_and_multiply_adds_of_a_conv():
    grouped, single = by_name(shape_table(227)), by_name(shape_table(227, alexnet_layers(groups=1)))
    for name in ("conv2", "conv4", "conv5"):
        filters = single[name].output_channels
        assert grouped[name].parameters - filters == (single[name].parameters - filters) // 2
        assert grouped[name].multiply_adds * 2 == single[name].multiply_adds
    assert grouped["conv3"].parameters == single["conv3"].parameters


def test_multiply_adds_of_the_single_stream_network():
    rows = by_name(shape_table(227, alexnet_layers(groups=1)))
    assert rows["conv2"].multiply_adds == 27 * 27 * 256 * (5 * 5 * 96)
    total = sum(r.multiply_adds for r in rows.values())
    assert 1.13e9 < total < 1.14e9


def test_figure_2_neuron_count_of_layer_1_is_290400_not_253440():
    rows = by_name(shape_table(227))
    assert rows["conv1"].neurons == 290_400
    assert rows["conv2"].neurons == 186_624 and rows["conv3"].neurons == 64_896


def test_options_change_classes_and_pooling():
    rows = by_name(shape_table(227, alexnet_layers(num_classes=10, pool_size=2, pool_stride=2)))
    assert rows["fc8"].output_size == 10
    assert rows["pool1"].kernel == 2 and rows["pool5"].output_shape == (6, 6, 256)


@given(st.integers(min_value=67, max_value=400))
def test_every_output_follows_the_floor_formula(size):
    for row in shape_table(size):
        if row.kind in ("conv", "pool"):
            assert row.output_size == (row.input_size + 2 * row.padding - row.kernel) // row.stride + 1
        elif row.kind == "flatten":
            assert row.output_size == row.input_size**2 * row.input_channels


def test_too_small_an_input_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        shape_table(60)
    with pytest.raises(ValueError, match="input_size"):
        shape_table(0)


def test_bad_options_are_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match="groups must be 1 .* or 2"):
        alexnet_layers(groups=3)
    with pytest.raises(ValueError, match="num_classes"):
        alexnet_layers(num_classes=0)
    with pytest.raises(ValueError, match="kind must be one of conv, pool, flatten, dense"):
        LayerSpec("x", "attention")
    bad_groups = [dataclasses.replace(s, groups=5) if s.name == "conv2" else s for s in PAPER_LAYERS]
    with pytest.raises(ValueError, match="divisible"):
        shape_table(227, bad_groups)


def test_formatted_table_has_one_line_per_layer():
    text = format_shape_table(shape_table(227))
    lines = text.splitlines()
    assert len(lines) == 2 + len(PAPER_LAYERS)
    assert "256 x 5x5x48 (2 groups)" in text and "6 x 6 x 256" in text and "37,752,832" in text
