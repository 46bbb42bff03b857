"""The conv/pool arithmetic: hand cases (AlexNet's layers one at a time; the whole chain of its sizes is the shape
table's, in test_architecture), errors, and agreement with real Keras layers."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alexnet_book.arithmetic import (
    ReceptiveField,
    conv_output_size,
    conv_output_size_exact,
    pool_output_size,
    receptive_fields,
    same_padding,
)


@pytest.mark.parametrize(
    "size, kernel, stride, padding, expected",
    [
        (5, 3, 1, 0, 3),  # slide 3 wide over 5: positions 0, 1, 2
        (5, 3, 1, 1, 5),  # padding 1 keeps the size for a 3x3 kernel
        (7, 3, 2, 0, 3),
        (8, 3, 2, 0, 3),  # floor: the last pixel is never the start of a window
        (227, 11, 4, 0, 55),  # AlexNet conv1
        (27, 5, 1, 2, 27),  # conv2
        (13, 3, 1, 1, 13),  # conv3-5
        (224, 11, 4, 0, 54),  # the paper's stated input: floor(54.25)
        (224, 11, 4, 2, 55),  # ...unless padded by 2 on each side
        (10, 3, 3, "same", 4),
        (10, 3, 3, "valid", 3),
    ],
)
def test_conv_output_size_hand_cases(size, kernel, stride, padding, expected):
    assert conv_output_size(size, kernel, stride, padding) == expected


def test_exact_size_shows_why_224_does_not_fit():
    assert conv_output_size_exact(224, 11, 4) == Fraction(217, 4)  # 54.25
    assert conv_output_size_exact(227, 11, 4) == 55


def test_pool_stride_defaults_to_pool_size():
    assert pool_output_size(55, 2) == 27
    assert pool_output_size(55, 3, 2) == 27


@pytest.mark.parametrize(
    "size, kernel, stride, expected",
    [(10, 3, 1, (1, 1)), (10, 3, 3, (1, 1)), (9, 4, 1, (1, 2)), (227, 11, 4, (4, 4)), (224, 11, 4, (3, 4))],
)
def test_same_padding_puts_the_odd_pixel_after(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 3, 1, 0), "size must be a positive whole number"),
        ((5, 3, 0, 0), "stride must be a positive whole number"),
        ((5, 2.5, 1, 0), "kernel must be a positive whole number"),
        ((5, 3, 1, -1), r"padding \(pixels on each side, or 'valid' or 'same'\) must be a whole number >= 0"),
        ((True, 3, 1, 0), "size must be a positive whole number, got True"),  # bool is an int, but not a size
        ((5, 3, 1, "full"), "padding must be an int, 'valid' or 'same'"),
        ((3, 5, 1, 0), "does not fit"),
    ],
)
def test_bad_input_names_the_problem(args, message):
    with pytest.raises(ValueError, match=message):
        conv_output_size(*args)


def test_receptive_field_of_alexnet_conv_stack():
    stack = [(11, 4, 0), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 2, 0)]
    fields = receptive_fields(stack)
    assert fields[0] == ReceptiveField(size=11, jump=4, start=5.5)
    assert [f.size for f in fields] == [11, 19, 51, 67, 99, 131, 163, 195]
    assert fields[-1].jump == 32


def test_receptive_field_of_two_3x3_equals_one_5x5():
    assert receptive_fields([(3, 1), (3, 1)])[-1].size == receptive_fields([(5, 1)])[-1].size == 5


# --- agreement with Keras: the formula predicts what real layers do ---------------------------------------


def _keras_output_size(layer, size):
    x = np.zeros((1, size, size, 1), dtype="float32")
    return layer(x).shape[1]


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(1, 40),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 5),
    padding=st.sampled_from(["valid", "same"]),
)
def test_conv_formula_matches_keras_conv2d(size, kernel, stride, padding):
    import keras

    if padding == "valid" and kernel > size:
        with pytest.raises(ValueError, match="does not fit"):
            conv_output_size(size, kernel, stride, padding)
        return
    layer = keras.layers.Conv2D(1, kernel, strides=stride, padding=padding)
    assert conv_output_size(size, kernel, stride, padding) == _keras_output_size(layer, size)


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(1, 40),
    pool=st.integers(1, 5),
    stride=st.integers(1, 4),
    padding=st.sampled_from(["valid", "same"]),
)
def test_pool_formula_matches_keras_maxpool(size, pool, stride, padding):
    import keras

    if padding == "valid" and pool > size:
        return  # nothing to compare: Keras refuses too (checked for Conv2D above)
    layer = keras.layers.MaxPool2D(pool, strides=stride, padding=padding)
    assert pool_output_size(size, pool, stride, padding) == _keras_output_size(layer, size)


@settings(max_examples=30, deadline=None)
@given(size=st.integers(1, 30), kernel=st.integers(1, 7), stride=st.integers(1, 4), padding=st.integers(0, 3))
def test_explicit_padding_matches_zero_padding_then_valid_conv(size, kernel, stride, padding):
    import keras

    if kernel > size + 2 * padding:
        return
    model = keras.Sequential([keras.layers.ZeroPadding2D(padding), keras.layers.Conv2D(1, kernel, strides=stride)])
    assert conv_output_size(size, kernel, stride, padding) == _keras_output_size(model, size)


def test_same_padding_matches_what_tensorflow_does():
    """The uneven split: compare a 'same' conv with explicit (before, after) zero padding and a 'valid' conv."""
    import keras

    rng = np.random.default_rng(0)
    for size, kernel, stride in [(9, 4, 1), (10, 3, 2), (224, 11, 4), (7, 2, 2)]:
        x = rng.normal(size=(1, size, size, 1)).astype("float32")
        same = keras.layers.Conv2D(1, kernel, strides=stride, padding="same", use_bias=False)
        expected = np.asarray(same(x))
        before, after = same_padding(size, kernel, stride)
        valid = keras.layers.Conv2D(1, kernel, strides=stride, padding="valid", use_bias=False)
        valid.build((1, size + before + after, size + before + after, 1))
        valid.set_weights(same.get_weights())
        padded = np.pad(x, ((0, 0), (before, after), (before, after), (0, 0)))
        np.testing.assert_allclose(np.asarray(valid(padded)), expected, rtol=1e-5, atol=1e-5)
