"""alexnet_book.inspection: layer features, nearest neighbours, PCA and the filter grid."""

import numpy as np
import pytest

from alexnet_book.inspection import (
    feature_extractor,
    filter_grid,
    fit_pca,
    get_layer,
    layer_features,
    nearest_neighbours,
    neighbour_label_agreement,
    normalise_per_filter,
)


@pytest.fixture(scope="module")
def tiny_model():
    """A small functional model with named layers; its weights are set so that outputs can be computed by hand."""
    import keras

    inputs = keras.Input((4, 4, 3), name="image")
    x = keras.layers.Conv2D(2, 3, name="conv1", activation="relu")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(5, name="fc7")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="fc8")(x), name="tiny")
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model


# --- features of named layers ------------------------------------------------------------------------


def test_layer_features_equal_the_layer_computed_by_hand(tiny_model):
    images = np.random.default_rng(1).normal(size=(6, 4, 4, 3)).astype("float32")
    conv_kernel, conv_bias, fc7_kernel, fc7_bias, _, _ = tiny_model.get_weights()
    # conv1 by hand: 2x2 positions of a 3x3 window, then ReLU
    by_hand = np.zeros((6, 2, 2, 2), dtype="float32")
    for i in range(2):
        for j in range(2):
            by_hand[:, i, j] = np.einsum("nhwc,hwcf->nf", images[:, i : i + 3, j : j + 3], conv_kernel) + conv_bias
    by_hand = np.maximum(by_hand, 0)
    features = layer_features(tiny_model, ["conv1", "fc7"], images, batch_size=4)
    assert set(features) == {"conv1", "fc7"}
    np.testing.assert_allclose(features["conv1"], by_hand, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(features["fc7"], by_hand.reshape(6, -1) @ fc7_kernel + fc7_bias, rtol=1e-4, atol=1e-4)
    single = layer_features(tiny_model, "fc7", images)
    assert single.shape == (6, 5)
    np.testing.assert_allclose(single, features["fc7"], rtol=1e-6)


def test_an_unknown_layer_name_is_a_clear_error_listing_the_names(tiny_model):
    with pytest.raises(ValueError) as error:
        layer_features(tiny_model, "fc6", np.zeros((1, 4, 4, 3), "float32"))
    message = str(error.value)
    assert "'fc6'" in message and "tiny" in message
    for name in ("image", "conv1", "flatten", "fc7", "fc8"):
        assert name in message
    with pytest.raises(ValueError, match="no layer named 'conv9'"):
        feature_extractor(tiny_model, ["conv1", "conv9"])
    with pytest.raises(TypeError, match="string"):
        get_layer(tiny_model, 3)


def test_empty_requests_are_refused(tiny_model):
    with pytest.raises(ValueError, match="at least one layer"):
        feature_extractor(tiny_model, [])
    with pytest.raises(ValueError, match="empty"):
        layer_features(tiny_model, "fc7", np.zeros((0, 4, 4, 3), "float32"))
    with pytest.raises(ValueError, match="batch_size"):
        layer_features(tiny_model, "fc7", np.zeros((2, 4, 4, 3), "float32"), batch_size=0)


def test_features_of_the_books_alexnet_on_uint8_images_have_each_layers_shape():
    from alexnet_book.model import build_alexnet

    model = build_alexnet("cifar10", raw_image_size=32, input_size=67)  # 67: the smallest input, a quick model
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    features = layer_features(model, ["conv1", "conv5", "fc7"], images)
    for name, values in features.items():
        assert values.shape == (2, *get_layer(model, name).output.shape[1:]), name
    assert filter_grid(get_layer(model, "conv1").get_weights()[0], columns=12).shape == (97, 145, 3)


# --- nearest neighbours ------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_the_nearest_neighbour_of_an_item_is_itself_at_distance_zero(metric):
    items = np.random.default_rng(2).normal(size=(50, 16))
    indices, distances = nearest_neighbours(items, items, k=3, metric=metric)
    assert indices.shape == distances.shape == (50, 3)
    np.testing.assert_array_equal(indices[:, 0], np.arange(50))
    np.testing.assert_allclose(distances[:, 0], 0.0, atol=1e-6)
    assert np.all(np.diff(distances, axis=1) >= 0), "neighbours must come nearest first"
    assert np.all(distances[:, 1] > 1e-3)


def test_distances_match_their_definitions():
    queries = np.array([[3.0, 4.0], [1.0, 0.0]])
    items = np.array([[0.0, 0.0], [6.0, 8.0], [0.0, 2.0]])

    def by_item(metric):  # the distances from each query to items 0, 1, 2, whatever order they come in
        order, distances = nearest_neighbours(queries, items, k=3, metric=metric)
        return np.take_along_axis(distances, np.argsort(order, axis=1), axis=1)

    np.testing.assert_allclose(
        by_item("euclidean"), [[5.0, 5.0, np.hypot(3, 2)], [1.0, np.hypot(5, 8), np.hypot(1, 2)]], rtol=1e-12
    )
    # the zero vector has no direction: distance 1; a scaled copy: distance 0; (3,4) vs (0,2): 1 - 4/5
    np.testing.assert_allclose(by_item("cosine"), [[1.0, 0.0, 0.2], [1.0, 0.4, 1.0]], atol=1e-12)


def test_cosine_ignores_length_and_euclidean_does_not():
    items = np.array([[1.0, 0.0], [10.0, 1.0], [0.0, 1.0]])
    query = np.array([[0.9, 0.1]])
    assert nearest_neighbours(query, items, k=1, metric="cosine")[0][0, 0] == 1
    assert nearest_neighbours(query, items, k=1, metric="euclidean")[0][0, 0] == 0


def test_images_are_flattened_and_bad_arguments_are_named():
    images = np.random.default_rng(3).integers(0, 256, (5, 8, 8, 3)).astype(np.uint8)
    indices, distances = nearest_neighbours(images[:2], images, k=5, metric="euclidean")
    np.testing.assert_array_equal(indices[:, 0], [0, 1])
    with pytest.raises(ValueError, match="metric"):
        nearest_neighbours(images, images, metric="manhattan")
    with pytest.raises(ValueError, match="k must be"):
        nearest_neighbours(images, images, k=6)
    with pytest.raises(ValueError, match="same number of features"):
        nearest_neighbours(np.zeros((2, 3)), np.zeros((2, 4)), k=1)


def test_neighbour_label_agreement_counts_matching_labels():
    neighbours = np.array([[0, 1], [2, 3]])
    assert neighbour_label_agreement([0, 1], [0, 0, 1, 2], neighbours) == pytest.approx(0.75)


# --- PCA ---------------------------------------------------------------------------------------------


def test_pca_of_points_on_a_line_recovers_the_line():
    rng = np.random.default_rng(4)
    direction = rng.normal(size=10)
    direction /= np.linalg.norm(direction)
    offset = rng.normal(size=10)
    t = rng.normal(size=200) * 3.0
    points = offset + t[:, None] * direction
    pca = fit_pca(points, n_components=2)
    assert abs(pca.components[0] @ direction) == pytest.approx(1.0, abs=1e-9)
    assert pca.explained_variance_ratio[0] == pytest.approx(1.0, abs=1e-9)
    assert pca.explained_variance_ratio[1] == pytest.approx(0.0, abs=1e-9)
    coordinates = pca.transform(points)
    # the first coordinate is the position along the line (up to sign), the second is 0
    assert abs(np.corrcoef(coordinates[:, 0], t)[0, 1]) == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(coordinates[:, 1], 0.0, atol=1e-9)
    np.testing.assert_allclose(coordinates @ pca.components + pca.mean, points, atol=1e-9)  # nothing is lost


@pytest.mark.parametrize("shape", [(40, 300), (300, 12)], ids=["fewer rows than features", "more rows than features"])
def test_pca_agrees_with_the_svd_of_the_centred_rows(shape):
    rng = np.random.default_rng(7)
    values = rng.normal(size=shape) @ np.diag(np.linspace(3.0, 0.1, shape[1])) + 5.0
    pca = fit_pca(values, n_components=3)
    centred = values - values.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(pca.explained_variance, singular[:3] ** 2 / (shape[0] - 1), rtol=1e-9)
    np.testing.assert_allclose(pca.explained_variance_ratio, singular[:3] ** 2 / np.sum(singular**2), rtol=1e-9)
    np.testing.assert_allclose(np.abs(pca.components @ vt[:3].T), np.eye(3), atol=1e-7)  # same directions, up to sign


def test_pca_components_are_orthonormal_and_ordered_and_signs_are_fixed():
    rng = np.random.default_rng(5)
    values = rng.normal(size=(100, 6)) * np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])
    pca = fit_pca(values, n_components=4)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(4), atol=1e-12)
    assert np.all(np.diff(pca.explained_variance) <= 0)
    np.testing.assert_allclose(pca.explained_variance, np.var(pca.transform(values), axis=0, ddof=1))
    flipped = fit_pca(-values, n_components=4)
    np.testing.assert_allclose(flipped.components, pca.components, atol=1e-12)  # a sign convention, not chance
    with pytest.raises(ValueError, match="n_components"):
        fit_pca(values, n_components=7)


# --- the filter grid ---------------------------------------------------------------------------------


def test_filter_grid_of_96_filters_of_11x11x3():
    kernel = np.random.default_rng(6).normal(size=(11, 11, 3, 96))
    grid = filter_grid(kernel, columns=12, padding=1)
    assert grid.shape == (8 * 11 + 9, 12 * 11 + 13, 3)
    assert grid.min() == 0.0 and grid.max() == 1.0
    # filter 13 sits in the second row, second column; each tile spans 0..1 on its own
    tile = grid[1 + 12 : 1 + 12 + 11, 1 + 12 : 1 + 12 + 11]
    np.testing.assert_allclose(tile, (kernel[..., 13] - kernel[..., 13].min()) / np.ptp(kernel[..., 13]))
    assert np.all(grid[0] == 1.0) and np.all(grid[:, 12] == 1.0), "the gaps are pad_value"
    assert filter_grid(kernel).shape == (10 * 11 + 11, 10 * 11 + 11, 3)  # default: a square-ish grid
    assert filter_grid(kernel, columns=16, padding=0).shape == (66, 176, 3)


def test_normalisation_is_per_filter_and_constant_filters_are_grey():
    kernel = np.zeros((2, 2, 3, 2))
    kernel[..., 0] = np.arange(12).reshape(2, 2, 3) * 100.0  # a large scale
    kernel[..., 1] = 7.0  # constant
    normalised = normalise_per_filter(kernel)
    np.testing.assert_allclose(normalised[..., 0], np.arange(12).reshape(2, 2, 3) / 11)
    np.testing.assert_allclose(normalised[..., 1], 0.5)


def test_filter_grid_refuses_what_is_not_an_rgb_kernel():
    with pytest.raises(ValueError, match="RGB"):
        filter_grid(np.zeros((5, 5, 96, 256)))
    with pytest.raises(ValueError, match="columns"):
        filter_grid(np.zeros((3, 3, 3, 4)), columns=0)
    with pytest.raises(ValueError, match=r"padding \(pixels between the filters\) must be a whole number >= 0"):
        filter_grid(np.zeros((3, 3, 3, 4)), padding=-1)
