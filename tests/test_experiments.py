"""The comparative-run harness of chapters 4 and 8: sizes, shared data, records, the table and the figure."""

import dataclasses
import math

import keras
import numpy as np
import pytest

from alexnet_book.data import CIFAR10, make_standin
from alexnet_book.experiments import (
    ExperimentData,
    RunRecord,
    ablation_headline,
    alexnet_options,
    beyond_chance,
    comparison_figure,
    describe_options,
    epochs_to_target,
    experiment_data,
    experiment_model,
    images_needed,
    read_ablations,
    results_table,
    run_experiment,
)
from alexnet_book.layers import LocalResponseNormalization
from alexnet_book.profiles import BY_NAME, PROFILES, ExperimentSizes, get_profile
from alexnet_book.recipe import Recipe, compile_model, recipe_for
from alexnet_book.train import throughput

TINY_SIZES = ExperimentSizes(train_images=200, validation_images=100, epochs=4, batch_size=20)


def tiny_net(units=8, activation="relu", num_classes=2):
    """Mean colour -> a small dense layer -> classes: enough for dark versus bright images."""
    inputs = keras.Input((32, 32, 3), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(units, activation=activation, name="hidden")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def dark_or_bright():
    """A trivially learnable task: class 0 images are dark, class 1 images are bright (plus noise)."""
    rng = np.random.default_rng(0)

    def images(count):
        labels = rng.integers(0, 2, count)
        base = np.where(labels == 1, 200, 50)[:, None, None, None]
        pixels = base + rng.integers(-40, 40, (count, 32, 32, 3))
        return pixels.clip(0, 255).astype(np.uint8), labels.astype(np.int64)

    x_train, y_train = images(TINY_SIZES.train_images)
    x_val, y_val = images(TINY_SIZES.validation_images)
    return ExperimentData(x_train, y_train, x_val, y_val, num_classes=2, source="standin", description="dark or bright")


@pytest.fixture(scope="module")
def tiny_runs(dark_or_bright):
    fast = dict(build=tiny_net, recipe=Recipe(learning_rate=0.1, momentum=0.9), seed=3)
    return {
        "a": run_experiment("eight units", dark_or_bright, TINY_SIZES, options={"units": 8}, target_error=0.1, **fast),
        "a again": run_experiment(
            "eight again", dark_or_bright, TINY_SIZES, options={"units": 8}, target_error=0.1, **fast
        ),
        "b": run_experiment("two units", dark_or_bright, TINY_SIZES, options={"units": 2}, **fast),
    }


# --------------------------------------------------------------------------------------------------
# Sizes


@pytest.mark.parametrize("scale", ["small_experiments", "alexnet_experiments"])
def test_every_profile_has_sizes_that_grow_from_smoke_to_full(scale):
    work = []
    for profile in PROFILES:
        sizes = getattr(get_profile(profile), scale)
        assert sizes.steps_per_epoch == math.ceil(sizes.train_images / sizes.batch_size)
        work.append(sizes.train_images * sizes.epochs)
    assert work == sorted(work) and work[0] < work[-1]


def test_smoke_alexnet_runs_take_only_a_few_steps():
    sizes = BY_NAME["smoke"].alexnet_experiments
    assert sizes.steps_per_epoch * sizes.epochs <= 5


def test_unknown_profile_or_bad_size_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown profile"):
        get_profile("fast")
    with pytest.raises(ValueError, match="batch_size must be a positive whole number"):
        ExperimentSizes(train_images=10, validation_images=10, epochs=1, batch_size=0)


# --------------------------------------------------------------------------------------------------
# The shared images


@pytest.fixture(scope="module")
def standin():
    x_train, y_train = make_standin(300, seed=1)
    x_test, y_test = make_standin(20, seed=2)
    return CIFAR10(x_train, y_train, x_test, y_test, source="standin")


def test_experiment_data_is_a_seeded_disjoint_split_of_the_training_images(standin):
    sizes = ExperimentSizes(train_images=100, validation_images=40, epochs=1, batch_size=10)
    data = experiment_data(standin, sizes, seed=5)
    assert data.x_train.shape == (100, 32, 32, 3) and data.x_validation.shape == (40, 32, 32, 3)
    assert data.num_classes == 10 and data.source == "standin"
    train_rows = {image.tobytes() for image in data.x_train}
    assert not any(image.tobytes() in train_rows for image in data.x_validation)
    again = experiment_data(standin, sizes, seed=5)
    assert np.array_equal(data.x_train, again.x_train) and np.array_equal(data.y_validation, again.y_validation)
    other = experiment_data(standin, sizes, seed=6)
    assert not np.array_equal(data.y_train, other.y_train)


@pytest.mark.parametrize("profile", PROFILES)
def test_images_needed_is_just_enough_for_the_split(profile):
    sizes = get_profile(profile).small_experiments
    needed = images_needed(sizes)
    x, y = np.zeros((needed, 32, 32, 3), np.uint8), np.arange(needed) % 10
    enough = CIFAR10(x, y, x[:10], y[:10], source="standin")
    assert experiment_data(enough, sizes).train_images == sizes.train_images
    too_few = CIFAR10(x[:-1], y[:-1], x[:10], y[:10], source="standin")
    with pytest.raises(ValueError, match="but the standin data has only"):
        experiment_data(too_few, sizes)


def test_experiment_data_refuses_more_images_than_there_are(standin):
    with pytest.raises(ValueError, match="train_images=500 but the standin data has only 240"):
        experiment_data(standin, ExperimentSizes(500, 10, 1, 10))


# --------------------------------------------------------------------------------------------------
# Runs


def test_a_record_holds_the_run(tiny_runs, dark_or_bright):
    record = tiny_runs["a"]
    assert isinstance(record, RunRecord)
    assert record.name == "eight units" and record.options == {"units": 8}
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds"):
        assert len(record.history[key]) == TINY_SIZES.epochs, key
    assert record.train_accuracy == record.history["accuracy"][-1]
    assert record.validation_loss == record.history["val_loss"][-1]
    assert record.parameters == tiny_net(units=8).count_params()
    assert (record.epochs, record.batch_size, record.train_images) == (4, 20, dark_or_bright.train_images)
    assert (record.recipe.learning_rate, record.recipe.momentum, record.seed) == (0.1, 0.9, 3)
    assert record.wall_seconds > sum(record.history["epoch_seconds"]) > 0
    assert record.images_per_second > 0
    assert record.data_source == "standin" and record.num_classes == 2
    assert math.isclose(record.generalization_gap, record.train_accuracy - record.validation_accuracy)


def test_a_trivially_learnable_task_is_learned(tiny_runs):
    record = tiny_runs["a"]
    assert record.validation_accuracy > 0.9
    assert record.history["loss"][-1] < record.history["loss"][0]
    assert record.epochs_to_target is not None and 1 <= record.epochs_to_target <= record.epochs
    assert record.epochs_to_target == epochs_to_target(record.history, 0.1)


def test_the_same_seed_gives_the_same_numbers(tiny_runs):
    assert tiny_runs["a"].history["loss"] == tiny_runs["a again"].history["loss"]
    assert tiny_runs["a"].history["val_accuracy"] == tiny_runs["a again"].history["val_accuracy"]


def test_different_options_build_different_models(tiny_runs):
    assert tiny_runs["a"].parameters != tiny_runs["b"].parameters
    assert tiny_runs["b"].target_error is None and tiny_runs["b"].epochs_to_target is None


def test_alexnet_options_build_different_alexnets():
    keras.utils.set_random_seed(0)
    recipe = Recipe(learning_rate=0.01)
    with_lrn = experiment_model(None, {"normalization": "lrn"}, recipe)
    without = experiment_model(None, {"normalization": None}, recipe)
    grouped = experiment_model(None, {"groups": 2, "normalization": None}, recipe)
    for model in (with_lrn, without, grouped):
        assert tuple(model.inputs[0].shape[1:]) == (32, 32, 3) and model.inputs[0].dtype == "uint8"
        assert model.get_layer("conv1").kernel_regularizer is not None  # the paper's coupled weight decay
    assert any(isinstance(layer, LocalResponseNormalization) for layer in with_lrn.layers)
    assert not any(
        isinstance(layer, (LocalResponseNormalization, keras.layers.BatchNormalization)) for layer in without.layers
    )
    assert grouped.count_params() < without.count_params()
    assert alexnet_options(dropout=0.0) == {
        "variant": "cifar10",
        "raw_image_size": 32,
        "weight_decay": 0.0005,
        "dropout": 0.0,
    }


def test_the_recipe_is_the_training_chapters():
    from alexnet_book.train import TrainConfig

    paper = recipe_for()
    assert (paper.learning_rate, paper.momentum) == (0.01, 0.9)  # the paper's, as under the full profile
    for profile in PROFILES:
        config = TrainConfig(profile=profile).resolved()
        assert recipe_for(profile) == config.recipe()  # rates, momenta, precision and XLA alike
    assert recipe_for(learning_rate=0.001).learning_rate == 0.001


def test_a_recipe_sets_how_fast_batchnorm_averages_follow(dark_or_bright):
    from alexnet_book.recipe import build_model

    def with_batchnorm():
        inputs = keras.Input((32, 32, 3), dtype="uint8")
        x = keras.layers.BatchNormalization(name="bn")(keras.layers.Rescaling(1 / 255)(inputs))
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))

    x, y = dark_or_bright.x_train[:100], dark_or_bright.y_train[:100]
    moved = {}
    for momentum in (None, 0.5):
        recipe = Recipe(learning_rate=0.01, momentum=0.9, batchnorm_momentum=momentum)
        model = build_model(with_batchnorm, recipe)
        compile_model(model, recipe)
        model.train_on_batch(x, y)
        moved[momentum] = float(np.mean(keras.ops.convert_to_numpy(model.get_layer("bn").moving_mean)))
    batch_mean = float(np.mean(x / 255))
    assert moved[0.5] == pytest.approx(0.5 * batch_mean, rel=1e-3)  # halfway from 0 in one step
    assert moved[None] == pytest.approx(0.01 * batch_mean, rel=1e-3)  # Keras's own 0.99


def test_epochs_to_target_counts_from_one():
    history = {"accuracy": [0.5, 0.7, 0.8]}
    assert epochs_to_target(history, 0.5) == 1
    assert epochs_to_target(history, 0.25) == 3
    assert epochs_to_target(history, 0.1) is None


def test_throughput_leaves_out_the_first_epoch():
    # 50 images an epoch; the first epoch (10 s) traces and compiles
    history = {"train_seconds": [10.0, 2.0, 3.0], "warmup": [1, 0, 0]}
    assert throughput(history, train_images=50) == pytest.approx(20.0)
    assert throughput({"train_seconds": [10.0], "warmup": [1]}, train_images=50) == pytest.approx(5.0)
    assert math.isnan(throughput({}, train_images=50))


def test_bad_options_give_clear_errors(dark_or_bright):
    with pytest.raises(TypeError, match=r"tiny_net\(\) got an unexpected keyword argument 'unit'"):
        run_experiment("typo", dark_or_bright, TINY_SIZES, build=tiny_net, options={"unit": 8})
    with pytest.raises(TypeError, match="unexpected keyword argument 'normalisation'"):
        experiment_model(None, {"normalisation": "lrn"}, Recipe(learning_rate=0.01))
    with pytest.raises(TypeError, match="not a Keras model"):
        run_experiment("no model", dark_or_bright, TINY_SIZES, build=lambda: "a model")
    with pytest.raises(ValueError, match="the model has 10 outputs, the data 2 classes"):
        run_experiment("classes", dark_or_bright, TINY_SIZES, build=tiny_net, options={"num_classes": 10})
    with pytest.raises(ValueError, match=r"target_error \(a training error, e.g. 0.25\) must be > 0 and < 1, got 25"):
        run_experiment("target", dark_or_bright, TINY_SIZES, build=tiny_net, target_error=25)
    with pytest.raises(ValueError, match="learning_rate must be > 0 and <= 10, got 0"):
        Recipe(learning_rate=0, momentum=0.9)
    with pytest.raises(TypeError, match="recipe must be a Recipe"):
        run_experiment("rate", dark_or_bright, TINY_SIZES, build=tiny_net, recipe={"learning_rate": 0.1})
    with pytest.raises(ValueError, match="a recipe has no setting 'lr'"):
        recipe_for(lr=0.1)
    with pytest.raises(TypeError, match="data must be experiment_data"):
        run_experiment("data", (dark_or_bright.x_train, dark_or_bright.y_train), TINY_SIZES, build=tiny_net)


def test_a_model_for_other_images_is_refused(dark_or_bright):
    def big_images():
        inputs = keras.Input((64, 64, 3))
        return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs)))

    with pytest.raises(ValueError, match=r"takes images of shape \(64, 64, 3\).*raw_image_size=32"):
        run_experiment("shape", dark_or_bright, TINY_SIZES, build=big_images)


# --------------------------------------------------------------------------------------------------
# The table and the figure


def test_the_table_has_a_row_per_run_with_its_numbers(tiny_runs):
    records = [tiny_runs["a"], tiny_runs["b"]]
    table = results_table(records)
    lines = table.splitlines()
    assert len(lines) == 2 + len(records)
    assert "epochs to target" in lines[0] and "units=8" in table
    assert f"{tiny_runs['a'].validation_accuracy:.1%}" in lines[2]
    assert f"{tiny_runs['b'].parameters:,}" in lines[3] and lines[3].rstrip().endswith("-")
    assert describe_options({}) == "(baseline)"


def test_runs_need_different_names(tiny_runs):
    with pytest.raises(ValueError, match="repeated: eight units"):
        results_table([tiny_runs["a"], tiny_runs["a"]])
    with pytest.raises(ValueError, match="non-empty list"):
        results_table([])


def test_the_figure_shows_curves_bars_and_the_target(tiny_runs):
    import matplotlib

    matplotlib.use("Agg")
    records = [tiny_runs["a"], tiny_runs["b"]]
    figure = comparison_figure(records, title="tiny", target_error=0.1)
    curves, bars = figure.axes
    assert len(curves.get_lines()) == len(records) + 1  # one curve per run and the target line
    assert len(bars.patches) == 2 * len(records)  # training and validation bar per run
    assert [tick.get_text() for tick in bars.get_xticklabels()] == ["eight units", "two units"]
    import matplotlib.pyplot as plt

    plt.close(figure)


# --------------------------------------------------------------------------------------------------
# Reading ablations


def test_beyond_chance_needs_more_than_three_standard_errors():
    # 10 classes: chance 10%, three standard errors on 100 images 9 points, on 1,000 images 2.8 points
    assert not beyond_chance(0.18, 100, 10) and beyond_chance(0.20, 100, 10)
    assert beyond_chance(0.13, 1000, 10) and not beyond_chance(0.12, 1000, 10)


def test_read_ablations_counts_only_changes_beyond_seed_and_sampling_noise(tiny_runs):
    base = tiny_runs["a"]

    def run(name, accuracy):
        return dataclasses.replace(base, name=name, validation_accuracy=accuracy, validation_images=96, num_classes=10)

    records = [
        run("baseline", 0.50),
        run("repeat", 0.50),  # two seeds that agree: the noise is sampling's, two standard errors = 10.2 points
        run("one image more", 0.50 + 1 / 96),
        run("big", 0.65),
        run("big too", 0.35 + 0.2 / 96),  # -14.8 points: a tie with +15 within half an image
    ]
    reading = read_ablations(records, "baseline", "repeat")
    assert reading.seed_difference == 0 and reading.noise == pytest.approx(2 * math.sqrt(0.25 / 96))
    assert reading.beyond_noise == ("big", "big too")
    assert reading.largest == ("big", "big too")
    assert reading.changes["one image more"] == pytest.approx(1 / 96)
    assert reading.baseline_learned
    at_chance = read_ablations([run("baseline", 0.125), run("repeat", 0.2)], "baseline", "repeat")
    assert not at_chance.baseline_learned and at_chance.noise == pytest.approx(0.075)
    assert ablation_headline(at_chance, 0.125).startswith("each run is too short to measure anything: ")
    assert ablation_headline(reading, 0.5).endswith("only beyond 10.2 points of noise")
    with pytest.raises(ValueError, match="no run named 'nope'"):
        read_ablations(records, "baseline", "nope")
