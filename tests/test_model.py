"""build_alexnet: the paper's network and the post's, their parameter counts, init, input pipeline and options."""

import keras
import numpy as np
import pytest

from alexnet_book.architecture import alexnet_layers, shape_table
from alexnet_book.layers import LocalResponseNormalization
from alexnet_book.model import build_alexnet

SMALL = 67  # the smallest input AlexNet's layers accept (pool5 gives 1x1): quick models for behaviour tests


@pytest.fixture(scope="module")
def paper():
    keras.utils.set_random_seed(0)
    return build_alexnet("paper")


@pytest.fixture(scope="module")
def cifar10():
    keras.utils.set_random_seed(0)
    return build_alexnet("cifar10")


def test_cifar10_parameter_count(cifar10):
    # the shape table's 58,322,314 (test_architecture) and BatchNormalization's 4 numbers per channel of conv1..conv5
    assert cifar10.count_params() == 58_327_818


def test_paper_layout(paper):
    names = [layer.name for layer in paper.layers]
    assert names == [
        "image",
        "conv1",
        "lrn1",
        "pool1",
        "conv2",
        "lrn2",
        "pool2",
        "conv3",
        "conv4",
        "conv5",
        "pool5",
        "flatten",
        "fc6",
        "drop6",
        "fc7",
        "drop7",
        "fc8",
        "softmax",
    ]
    assert isinstance(paper.get_layer("lrn1"), LocalResponseNormalization)
    assert [paper.get_layer(f"conv{i}").groups for i in range(1, 6)] == [1, 2, 1, 2, 2]
    assert paper.get_layer("pool1").pool_size == (3, 3) and paper.get_layer("pool1").strides == (2, 2)
    assert paper.get_layer("drop6").rate == 0.5
    assert paper.get_layer("fc8").activation is keras.activations.linear  # logits
    assert paper.get_layer("softmax").dtype_policy.compute_dtype == "float32"
    assert tuple(paper.output.shape) == (None, 1000)


def test_cifar10_layout_is_the_posts(cifar10):
    names = [layer.name for layer in cifar10.layers]
    assert [n for n in names if n.startswith(("bn", "lrn"))] == ["bn1", "bn2", "bn3", "bn4", "bn5"]
    for i in range(1, 6):  # BN after each conv (whose ReLU is fused into the Conv2D)
        assert names[names.index(f"conv{i}") + 1] == f"bn{i}"
        assert cifar10.get_layer(f"conv{i}").groups == 1
    assert tuple(cifar10.output.shape) == (None, 10)


@pytest.mark.parametrize(
    "variant, specs", [("paper", alexnet_layers()), ("cifar10", alexnet_layers(num_classes=10, groups=1))]
)
def test_every_layer_has_the_shape_and_parameters_the_table_derives(variant, specs, request):
    # With the layouts above (no other layer has weights in the paper's network), this gives the paper's
    # 60,965,224 parameters that test_architecture checks in the table.
    model = request.getfixturevalue(variant)
    for row in shape_table(227, specs):
        layer = model.get_layer(row.name)
        assert (tuple(layer.output.shape[1:]), layer.count_params()) == (row.output_shape, row.parameters), row.name


def test_paper_init(paper):
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        kernel = keras.ops.convert_to_numpy(paper.get_layer(name).kernel)
        assert abs(kernel.mean()) < 1e-3, name
        assert kernel.std() == pytest.approx(0.01, rel=0.05), name
    for name, bias in {
        "conv1": 0,
        "conv2": 1,
        "conv3": 0,
        "conv4": 1,
        "conv5": 1,
        "fc6": 1,
        "fc7": 1,
        "fc8": 0,
    }.items():
        assert np.all(keras.ops.convert_to_numpy(paper.get_layer(name).bias) == bias), name


def test_cifar10_keeps_keras_default_init(cifar10):
    conv1 = cifar10.get_layer("conv1")
    kernel = keras.ops.convert_to_numpy(conv1.kernel)
    fan_in, fan_out = 11 * 11 * 3, 11 * 11 * 96
    glorot_limit = np.sqrt(6 / (fan_in + fan_out))
    assert np.abs(kernel).max() <= glorot_limit  # uniform: N(0, 0.01) would pass this limit (2.2 sigma) often
    assert np.all(keras.ops.convert_to_numpy(cifar10.get_layer("fc6").bias) == 0)


def test_options_override_the_variant():
    model = build_alexnet(
        "paper",
        input_size=SMALL,
        normalization="batchnorm",
        groups=1,
        paper_init=False,
        num_classes=7,
        pool_size=2,
        pool_stride=2,
        activation="tanh",
        dropout=0.25,
    )
    names = [layer.name for layer in model.layers]
    assert "lrn1" not in names and "bn5" in names
    assert model.get_layer("conv2").groups == 1 and model.get_layer("pool2").pool_size == (2, 2)
    assert model.get_layer("conv3").activation is keras.activations.tanh
    assert model.get_layer("drop7").rate == 0.25 and tuple(model.output.shape) == (None, 7)
    lrn_post = build_alexnet("cifar10", input_size=SMALL, normalization="lrn")
    lrn_layers = [layer.name for layer in lrn_post.layers if isinstance(layer, LocalResponseNormalization)]
    assert lrn_layers == ["lrn1", "lrn2"]


def test_raw_uint8_input_is_scaled_and_resized_inside_the_model():
    model = build_alexnet("cifar10", raw_image_size=32, input_size=SMALL)
    assert keras.backend.standardize_dtype(model.inputs[0].dtype) == "uint8"
    assert tuple(model.inputs[0].shape) == (None, 32, 32, 3)
    white = np.full((1, 32, 32, 3), 255, "uint8")
    resized = keras.Model(model.inputs, model.get_layer("resize").output).predict(white, verbose=0)
    assert resized.shape == (1, SMALL, SMALL, 3)
    np.testing.assert_allclose(resized, 1.0, rtol=1e-6)


def test_augmentation_acts_in_training_only():
    keras.utils.set_random_seed(1)
    plain = build_alexnet("cifar10", raw_image_size=32, input_size=SMALL)
    augmented = build_alexnet("cifar10", raw_image_size=32, input_size=SMALL, augment=True)
    for layer in plain.layers:
        if layer.weights:
            augmented.get_layer(layer.name).set_weights(layer.get_weights())
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype="uint8")
    first, second = augmented.predict(images, verbose=0), augmented.predict(images, verbose=0)
    assert first.shape == (8, 10)
    np.testing.assert_array_equal(first, second)  # deterministic at inference
    np.testing.assert_allclose(first, plain.predict(images, verbose=0), rtol=1e-5, atol=1e-6)  # and a no-op
    # in training the shift and flip do change the images, and keep their shape
    scaled = augmented.get_layer("rescale")(images)
    moved = augmented.get_layer("random_flip")(
        augmented.get_layer("random_shift")(scaled, training=True), training=True
    )
    assert tuple(moved.shape) == (8, 32, 32, 3)
    assert not np.allclose(keras.ops.convert_to_numpy(moved), keras.ops.convert_to_numpy(scaled))


def test_weight_decay_is_the_papers_coupled_l2():
    decay = 0.0005
    model = build_alexnet("cifar10", input_size=SMALL, weight_decay=decay)
    kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
    assert len(kernels) == 8
    for layer in model.layers:
        if hasattr(layer, "kernel"):
            assert layer.kernel_regularizer.l2 == pytest.approx(decay / 2)
            assert layer.bias_regularizer is None
    # penalty (lambda / 2) * sum ||w||^2: its gradient lambda * w is the paper's "- 0.0005 * eps * w" term
    penalty = sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses)
    expected = decay / 2 * sum(float(np.sum(keras.ops.convert_to_numpy(k).astype("float64") ** 2)) for k in kernels)
    assert penalty == pytest.approx(expected, rel=1e-4)
    assert not build_alexnet("cifar10", input_size=SMALL).losses


def test_mixed_precision_gives_float32_probabilities():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = build_alexnet("paper", input_size=SMALL, num_classes=5)
        assert model.get_layer("conv1").compute_dtype == "float16"
        probabilities = model.predict(np.random.default_rng(0).random((2, SMALL, SMALL, 3)), verbose=0)
    finally:
        keras.config.set_dtype_policy(previous)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(variant="vgg"), r"unknown variant 'vgg': choose one of 'paper', 'cifar10'"),
        (dict(normalization="layernorm"), r"unknown normalization 'layernorm': choose 'lrn' .*'batchnorm'.*None"),
        (dict(groups=4), r"groups must be 1 .* 2 .* or 'default'"),
        (dict(groups=True), r"groups must be 1 .* got True"),
        (dict(dropout=1.0), r"dropout \(a rate; the paper's is 0.5\) must be >= 0 and < 1, got 1.0"),
        (dict(dropout=True), r"dropout .* must be a number, got True"),
        (dict(activation="relu6x"), r"unknown activation 'relu6x'"),
        (dict(weight_decay=-1e-4), r"weight_decay \(None for none; the paper's is 0.0005\) must be >= 0"),
        (dict(paper_init="yes"), r"paper_init must be True, False or 'default'"),
        (dict(augment=True), r"augment=True .* also pass raw_image_size"),
        (dict(input_size=60), r"input_size=60 does not work for AlexNet"),
    ],
)
def test_bad_options_are_refused_with_the_allowed_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_alexnet(**kwargs)
