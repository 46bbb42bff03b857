"""LocalResponseNormalization: the paper's formula, TensorFlow's op with the paper's constants, serialisation, the
window sum a subclass may replace. GroupedLocalResponseNormalization: each group on its own.
RandomShift: pad-and-crop, every shift equally likely, unchanged at inference, and XLA stays on."""

import keras
import numpy as np
import pytest

from alexnet_book.layers import GroupedLocalResponseNormalization, LocalResponseNormalization, RandomShift

PAPER = dict(depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)


def reference_lrn(a, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75):
    """The paper's formula written out with a loop over channels (float64)."""
    a = a.astype("float64")
    channels = a.shape[-1]
    out = np.empty_like(a)
    for i in range(channels):
        lo, hi = max(0, i - depth_radius), min(channels, i + depth_radius + 1)
        out[..., i] = a[..., i] / (bias + alpha * np.sum(a[..., lo:hi] ** 2, axis=-1)) ** beta
    return out


@pytest.fixture
def activations():
    # ReLU outputs of a plausible scale: large enough that the alpha term matters
    return np.abs(np.random.default_rng(0).normal(scale=30.0, size=(2, 7, 7, 96))).astype("float32")


def test_matches_the_papers_formula(activations):
    out = keras.ops.convert_to_numpy(LocalResponseNormalization()(activations))
    np.testing.assert_allclose(out, reference_lrn(activations), rtol=1e-5, atol=1e-6)
    # the normalization did something: it is not the identity and not a constant scale
    assert not np.allclose(out, activations / 2**0.75, rtol=1e-3)


def test_edges_use_fewer_neighbours():
    x = np.ones((1, 1, 1, 6), "float32") * 100
    out = keras.ops.convert_to_numpy(LocalResponseNormalization()(x))[0, 0, 0]
    # channel 0 sees channels 0..2 (3 of them), channel 2 sees 0..4 (5)
    assert out[0] == pytest.approx(100 / (2 + 1e-4 * 3 * 100**2) ** 0.75, rel=1e-6)
    assert out[2] == pytest.approx(100 / (2 + 1e-4 * 5 * 100**2) ** 0.75, rel=1e-6)


def _tensorflow():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("comparison with tf.nn.local_response_normalization: TensorFlow backend only")
    return pytest.importorskip("tensorflow")


def test_equals_tensorflow_with_the_papers_constants():
    tf = _tensorflow()
    x = np.random.default_rng(1).normal(size=(4, 9, 9, 64)).astype("float32") * 10
    ours = keras.ops.convert_to_numpy(LocalResponseNormalization()(x))
    theirs = tf.nn.local_response_normalization(x, **PAPER).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_tensorflows_defaults_are_a_different_normalization(activations):
    tf = _tensorflow()
    paper = keras.ops.convert_to_numpy(LocalResponseNormalization()(activations))
    defaults = tf.nn.local_response_normalization(activations).numpy()  # depth_radius=5, bias=1, alpha=1, beta=0.5
    # with alpha=1 the squares dominate: outputs shrink to about a / sqrt(sum of 11 squares), below 1
    assert np.abs(defaults).max() < 1.0
    assert np.abs(paper).mean() > 10 * np.abs(defaults).mean()


def test_config_round_trip():
    layer = LocalResponseNormalization(depth_radius=3, bias=1.0, alpha=2e-4, beta=0.5, name="lrn_x")
    clone = LocalResponseNormalization.from_config(layer.get_config())
    assert (clone.depth_radius, clone.bias, clone.alpha, clone.beta, clone.name) == (3, 1.0, 2e-4, 0.5, "lrn_x")
    assert keras.saving.get_registered_name(LocalResponseNormalization) == "alexnet_book>LocalResponseNormalization"


def test_saved_model_reloads_with_the_layer(tmp_path, activations):
    inputs = keras.Input(activations.shape[1:])
    model = keras.Model(inputs, LocalResponseNormalization(depth_radius=1, name="lrn")(inputs))
    path = tmp_path / "lrn.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored.get_layer("lrn"), LocalResponseNormalization)
    assert restored.get_layer("lrn").depth_radius == 1
    np.testing.assert_allclose(restored.predict(activations, verbose=0), model.predict(activations, verbose=0))


def test_mixed_precision_computes_in_float32():
    # 300 squared is 90,000: above float16's largest value (65,504), so a float16 sum of squares would be inf
    x = np.full((1, 2, 2, 8), 300.0, "float32")
    layer = LocalResponseNormalization(dtype="mixed_float16")
    out = layer(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    out = keras.ops.convert_to_numpy(out).astype("float64")
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, reference_lrn(x), rtol=2e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(depth_radius=-1), r"depth_radius \(the window spans .*\) must be a whole number >= 0, got -1"),
        (dict(depth_radius=2.5), "depth_radius .* must be a whole number >= 0, got 2.5"),
        (dict(depth_radius=True), "depth_radius .* must be a whole number >= 0, got True"),
        (dict(bias=0.0), r"bias \(the paper's k is 2\) must be > 0, got 0.0"),
        (dict(alpha=-1.0), r"alpha \(the paper's is 1e-4\) must be >= 0, got -1.0"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LocalResponseNormalization(**kwargs)


def test_gradients_flow_through_the_layer_in_training():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = LocalResponseNormalization()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    images = np.random.default_rng(0).normal(size=(16, 6, 6, 3)).astype("float32")
    labels = (images.mean(axis=(1, 2, 3)) > 0).astype("int32")
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    history = model.fit(images, labels, epochs=3, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert history.history["loss"][-1] < history.history["loss"][0]
    conv_kernel_after = keras.ops.convert_to_numpy(model.trainable_weights[0])
    assert not np.allclose(conv_kernel_after, before[0])  # the conv below the LRN received gradients


class ShiftedSliceLRN(LocalResponseNormalization):
    """The same normalization with the window sum written as padded, shifted slices."""

    def window_sum(self, squares):
        r, channels = self.depth_radius, squares.shape[-1]
        padded = keras.ops.pad(squares, [(0, 0)] * (len(squares.shape) - 1) + [(r, r)])
        return sum(padded[..., i : i + channels] for i in range(2 * r + 1))


def test_window_sum_is_the_sum_over_the_neighbouring_channels(activations):
    squares = activations.astype("float64") ** 2
    expected = np.stack([squares[..., max(0, i - 2) : i + 3].sum(-1) for i in range(96)], axis=-1)
    band = keras.ops.convert_to_numpy(LocalResponseNormalization().window_sum(activations**2))
    np.testing.assert_allclose(band, expected, rtol=1e-6)


def test_a_subclass_may_compute_the_window_sum_another_way(activations):
    lrn = dict(depth_radius=3, bias=1.5, alpha=2e-4, beta=0.6)
    shifted = keras.ops.convert_to_numpy(ShiftedSliceLRN(**lrn)(activations))
    np.testing.assert_allclose(shifted, reference_lrn(activations, **lrn), rtol=1e-5)

    class NoWindow(LocalResponseNormalization):
        def window_sum(self, squares):
            return keras.ops.zeros_like(squares)

    # call() uses the subclass's sum: with none, every value is divided by bias ** beta
    np.testing.assert_allclose(keras.ops.convert_to_numpy(NoWindow()(activations)), activations / 2**0.75, rtol=1e-6)


def test_grouped_lrn_normalizes_each_group_on_its_own():
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 8)).astype("float32") * 30
    lrn = dict(depth_radius=1, bias=1.0, alpha=0.5, beta=0.75)
    grouped = keras.ops.convert_to_numpy(GroupedLocalResponseNormalization(2, **lrn)(x))
    for half in (slice(0, 4), slice(4, 8)):
        expected = keras.ops.convert_to_numpy(LocalResponseNormalization(**lrn)(x[..., half]))
        np.testing.assert_allclose(grouped[..., half], expected, rtol=1e-6)
    whole = keras.ops.convert_to_numpy(LocalResponseNormalization(**lrn)(x))
    assert np.abs(whole - grouped)[..., 3:5].max() > 1e-3  # the maps at the boundary differ
    np.testing.assert_allclose(whole[..., :3], grouped[..., :3], rtol=1e-6)


def test_grouped_lrn_refuses_bad_groups_and_round_trips_its_config():
    with pytest.raises(ValueError, match="groups must be a positive whole number"):
        GroupedLocalResponseNormalization(0)
    with pytest.raises(ValueError, match="do not split into 3 equal groups"):
        GroupedLocalResponseNormalization(3)(np.ones((1, 2, 2, 8), "float32"))
    layer = GroupedLocalResponseNormalization(4, depth_radius=1, bias=1.0, alpha=0.5, beta=0.5, name="g")
    clone = GroupedLocalResponseNormalization.from_config(layer.get_config())
    assert (clone.groups, clone.lrn.depth_radius, clone.lrn.bias, clone.lrn.alpha, clone.lrn.beta, clone.name) == (
        4,
        1,
        1.0,
        0.5,
        0.5,
        "g",
    )
    assert keras.saving.get_registered_name(GroupedLocalResponseNormalization) == (
        "alexnet_book>GroupedLocalResponseNormalization"
    )


def shifts_found(images, shifted, max_shift=4):
    """For each image, the (dy, dx) whose pad-and-crop gives the shifted image (exactly one must)."""
    found = []
    for image, out in zip(images, shifted):
        padded = np.pad(image, ((max_shift, max_shift), (max_shift, max_shift), (0, 0)))
        side = image.shape[0]
        matches = [
            (dy, dx)
            for dy in range(-max_shift, max_shift + 1)
            for dx in range(-max_shift, max_shift + 1)
            if np.array_equal(
                padded[max_shift + dy : max_shift + dy + side, max_shift + dx : max_shift + dx + side], out
            )
        ]
        assert len(matches) == 1, matches
        found.append(matches[0])
    return found


def test_random_shift_is_pad_and_crop_with_every_shift_equally_likely():
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, size=(1620, 12, 12, 2)).astype("float32")  # no zeros: the fill is visible
    shifted = keras.ops.convert_to_numpy(RandomShift(4, seed=3)(images, training=True))
    counts = np.zeros((9, 9), int)
    for dy, dx in shifts_found(images, shifted):
        counts[dy + 4, dx + 4] += 1
    # 20 expected per shift; a rounding bias like RandomTranslation's (edge shifts half as likely) would show
    assert counts.min() >= 6 and counts.max() <= 38, counts
    assert counts[[0, 8]].sum() / 18 > 14 and counts[:, [0, 8]].sum() / 18 > 14  # the largest shifts are not rarer


def test_random_shift_leaves_images_alone_at_inference():
    images = np.random.default_rng(1).random((4, 8, 8, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(RandomShift(2)(images)), images)
    assert RandomShift.from_config(RandomShift(3, seed=1).get_config()).max_shift == 3
    for bad in (-1, True):
        with pytest.raises(ValueError, match=r"max_shift \(pixels\) must be a whole number >= 0"):
            RandomShift(bad)


@pytest.fixture
def without_op_determinism():
    """Keras switches XLA off while TensorFlow's op determinism is on (train() turns it on for CPU runs)."""
    if keras.backend.backend() != "tensorflow":
        yield
        return
    from tensorflow.python.framework import config  # TensorFlow exports no way to switch determinism off

    was_on = config.is_op_determinism_enabled()
    config.disable_op_determinism()
    yield
    if was_on:
        config.enable_op_determinism()


def test_augmented_alexnet_keeps_xla_on_where_random_translation_switched_it_off(without_op_determinism):
    from alexnet_book.model import build_alexnet

    model = build_alexnet("cifar10", raw_image_size=32, augment=True)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", jit_compile=True)
    assert model.jit_compile is True
    translated = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.RandomTranslation(0.1, 0.1)])
    translated.compile(optimizer="sgd", loss="mse", jit_compile=True)
    assert translated.jit_compile is False  # why the book has its own shift layer
