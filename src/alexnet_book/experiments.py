"""Short comparative training runs: change one thing, train briefly with the book's recipe, compare the records.

Chapter 4 (what made AlexNet work) races small 32x32 networks against each other; chapter 8 (ablations) trains the
real AlexNet with one option changed at a time. Both use this module:

    sizes = experiment_sizes(profile, "small")
    data = experiment_data(load_cifar10(...), sizes, seed=42)
    relu = run_experiment("relu", data, sizes, build=my_net, options={"activation": "relu"}, target_error=0.5)
    tanh = run_experiment("tanh", data, sizes, build=my_net, options={"activation": "tanh"}, target_error=0.5)
    print(results_table([relu, tanh])); comparison_figure([relu, tanh])

Every run starts from the same seed, sees the same images in the same order, and trains with SGD and momentum as the
training chapter does (a Recipe: by default the paper's, or training_recipe(profile) for that chapter's settings at a
profile); the real AlexNet also gets the paper's coupled weight decay through build_alexnet. The learning rate
stays constant: with the paper's schedule (divide by 10 when the validation error
stops improving) each run's rate would drop at a different epoch, and a comparison would mix the option's effect with
the schedule's. Backend-neutral Keras 3.
"""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import keras
import numpy as np

from alexnet_book.checks import check_positive_int
from alexnet_book.data import VALIDATION_FRACTION, training_subsets
from alexnet_book.tables import text_table
from alexnet_book.train import EpochTimer, seed_everything, throughput

SCALES = ("small", "alexnet")


@dataclass(frozen=True)
class ExperimentSizes:
    """How big each run of an experiment is: images, epochs and the batch (steps follow from them)."""

    train_images: int
    validation_images: int
    epochs: int
    batch_size: int

    def __post_init__(self):
        for name in ("train_images", "validation_images", "epochs", "batch_size"):
            check_positive_int(name, getattr(self, name))

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.train_images / self.batch_size)


# Every profile's sizes, in one place.
# small: chapter 4's 32x32 networks, about a thousand training images a second on a 2-core CPU, so even smoke runs
#   a few epochs.
# alexnet: the real AlexNet resized to 227 inside the model, about 55 training images a second on a 2-core CPU:
#   smoke (CI) takes two epochs of two small batches per run (the second epoch times the speed, the first
#   compiles); quick a few hundred images; full is a GPU's work.
EXPERIMENT_SIZES = {
    "small": {
        "smoke": ExperimentSizes(train_images=600, validation_images=300, epochs=3, batch_size=50),
        "quick": ExperimentSizes(train_images=2000, validation_images=500, epochs=8, batch_size=50),
        "full": ExperimentSizes(train_images=40_000, validation_images=10_000, epochs=30, batch_size=128),
    },
    "alexnet": {
        "smoke": ExperimentSizes(train_images=16, validation_images=16, epochs=2, batch_size=8),
        "quick": ExperimentSizes(train_images=320, validation_images=96, epochs=2, batch_size=32),
        "full": ExperimentSizes(train_images=40_000, validation_images=10_000, epochs=30, batch_size=128),
    },
}


def experiment_sizes(profile: str, scale: str = "small") -> ExperimentSizes:
    """The sizes of one run at a profile ("smoke", "quick", "full" or "auto") and scale ("small" or "alexnet")."""
    from alexnet_book.profiles import resolve_profile

    if scale not in SCALES:
        raise ValueError(
            f"unknown scale {scale!r}: choose 'small' (chapter 4's 32x32 nets) or 'alexnet' (the real one)."
        )
    return EXPERIMENT_SIZES[scale][resolve_profile(profile)]


# --------------------------------------------------------------------------------------------------
# The images every run of an experiment shares


@dataclass(frozen=True)
class ExperimentData:
    """The training and validation images all runs of an experiment see (uint8 32x32x3, labels 0..classes-1)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_validation: np.ndarray
    y_validation: np.ndarray
    num_classes: int
    source: str  # "directory", "keras" or "standin" (alexnet_book.data.SOURCES)
    description: str = ""

    @property
    def train_images(self) -> int:
        return len(self.x_train)

    @property
    def validation_images(self) -> int:
        return len(self.x_validation)


def images_needed(sizes: ExperimentSizes) -> int:
    """Training images a data set needs for experiment_data to cut both parts out of its 80/20 split (e.g. the
    stand-in's size: load_cifar10(..., standin_size=(images_needed(sizes), ...)))."""
    count = sizes.train_images + sizes.validation_images
    # train_validation_split keeps ceil(fraction * N) for validation: count up to the first N that gives both enough
    while (
        count - int(np.ceil(VALIDATION_FRACTION * count)) < sizes.train_images
        or int(np.ceil(VALIDATION_FRACTION * count)) < sizes.validation_images
    ):
        count += 1
    return count


def experiment_data(data, sizes: ExperimentSizes, seed: int = 42) -> ExperimentData:
    """Split a data set's training images 80/20 (seeded) and keep the first images of each part that sizes asks for.

    data: an alexnet_book.data.CIFAR10 (load_cifar10's result). The test images are left alone: comparisons are
    made on validation images, so the test set stays unseen for the final results of the training chapter.
    """
    if not isinstance(sizes, ExperimentSizes):
        raise TypeError(
            f"sizes must be an ExperimentSizes (see experiment_sizes(profile, scale)), got {type(sizes).__name__}."
        )
    subsets = training_subsets(
        data, sizes.train_images, sizes.validation_images, seed, names=("train_images", "validation_images")
    )
    return ExperimentData(
        *subsets,
        num_classes=len(data.class_names),
        source=data.source,
        description=data.description,
    )


# --------------------------------------------------------------------------------------------------
# One run


@dataclass(frozen=True)
class RunRecord:
    """What one run of an experiment measured.

    history: one entry per epoch of loss, accuracy, val_loss, val_accuracy (Keras's names) and epoch_seconds.
    Training accuracy and loss are Keras's averages over each epoch's steps, with dropout and augmentation active
    (the numbers a training curve shows); losses include the weight penalty where the model has one.
    images_per_second counts training steps after the first one (which includes tracing and compiling).
    epochs_to_target: the first epoch whose training error is at most target_error (None: not reached or not asked).
    layers: (name, Keras class) of every layer, so two runs can be checked to have built different networks.
    """

    name: str
    options: dict
    history: dict
    train_accuracy: float
    train_loss: float
    validation_accuracy: float
    validation_loss: float
    wall_seconds: float
    images_per_second: float
    parameters: int
    layers: tuple
    epochs: int
    batch_size: int
    train_images: int
    validation_images: int
    num_classes: int
    seed: int
    recipe: Recipe
    data_source: str
    target_error: float | None = None
    epochs_to_target: int | None = None
    notes: tuple = field(default=())

    @property
    def train_error(self) -> float:
        return 1.0 - self.train_accuracy

    @property
    def validation_error(self) -> float:
        return 1.0 - self.validation_accuracy

    @property
    def generalization_gap(self) -> float:
        """Training accuracy minus validation accuracy: how much better the net does on images it trained on."""
        return self.train_accuracy - self.validation_accuracy


def epochs_to_target(history: Mapping[str, Sequence[float]], target_error: float) -> int | None:
    """The first epoch (counted from 1) whose training error, 1 - accuracy, is at most target_error; None if none is."""
    _check_target(target_error)
    for epoch, accuracy in enumerate(history.get("accuracy", []), start=1):
        if 1.0 - accuracy <= target_error:
            return epoch
    return None


def alexnet_options(**options) -> dict:
    """build_alexnet's keywords for an experiment on the real AlexNet: the seed's CIFAR-10 model taking uint8 32x32
    images (resized to 227 inside the model) with the paper's coupled weight decay, changed by `options`."""
    from alexnet_book.train import TrainConfig  # the recipe's weight decay lives with the training code

    return {"variant": "cifar10", "raw_image_size": 32, "weight_decay": TrainConfig.weight_decay, **options}


def build_model(build: Callable | None, options: Mapping | None):
    """The model of one run: build(**options), or build_alexnet(**alexnet_options(**options)) when build is None.

    Option names are checked against the builder's signature first, so a typo is an error, not a silent default.
    """
    options = dict(options or {})
    if build is None:
        from alexnet_book.model import build_alexnet

        build, options = build_alexnet, alexnet_options(**options)
    if not callable(build):
        raise TypeError(f"build must be a function that returns a Keras model (or None for AlexNet), got {build!r}.")
    parameters = inspect.signature(build).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    known = [n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [name for name in options if name not in known]
    if unknown and not takes_any:
        raise ValueError(
            f"{getattr(build, '__name__', 'the builder')} has no option {', '.join(map(repr, unknown))}: "
            f"its options are {', '.join(known)}."
        )
    model = build(**options)
    if not isinstance(model, keras.Model):
        raise TypeError(f"{getattr(build, '__name__', 'build')} returned {type(model).__name__}, not a Keras model.")
    return model


def _check_target(target_error):
    if target_error is not None and (
        isinstance(target_error, bool) or not isinstance(target_error, (int, float)) or not 0 < target_error < 1
    ):
        raise ValueError(
            f"target_error must be a training error strictly between 0 and 1 (e.g. 0.25), got {target_error!r}."
        )


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}.")


@dataclass(frozen=True)
class Recipe:
    """How a run trains: SGD's learning rate and momentum, and how fast BatchNormalization's moving averages follow
    the batches (None: the layers' own momentum, Keras's 0.99). Get the training chapter's with training_recipe."""

    learning_rate: float
    momentum: float
    batchnorm_momentum: float | None = None

    def __post_init__(self):
        if (
            isinstance(self.learning_rate, bool)
            or not isinstance(self.learning_rate, (int, float))
            or not self.learning_rate > 0
        ):
            raise ValueError(f"learning_rate must be a number > 0 (the paper's is 0.01), got {self.learning_rate!r}.")
        if isinstance(self.momentum, bool) or not isinstance(self.momentum, (int, float)) or not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be a number in [0, 1) (the paper's is 0.9), got {self.momentum!r}.")
        if self.batchnorm_momentum is not None and not 0 < self.batchnorm_momentum < 1:
            raise ValueError(
                f"batchnorm_momentum must be None or in (0, 1) (Keras's is 0.99), got {self.batchnorm_momentum!r}."
            )


def training_recipe(profile: str | None = None, **changes) -> Recipe:
    """The training chapter's settings (alexnet_book.train.TrainConfig) at a profile; None gives the paper's own,
    which the full profile uses. changes replace single settings, e.g. training_recipe(learning_rate=0.001)."""
    from alexnet_book.train import TrainConfig

    config = TrainConfig(profile=profile or "full").resolved()
    settings = {
        "learning_rate": config.learning_rate,
        "momentum": config.momentum,
        "batchnorm_momentum": getattr(config, "batchnorm_momentum", None),
    }
    unknown = sorted(set(changes) - set(settings))
    if unknown:
        raise ValueError(
            f"a recipe has no setting {', '.join(map(repr, unknown))}: its settings are {', '.join(settings)}."
        )
    return Recipe(**{**settings, **changes})


def compile_with_recipe(model, recipe: Recipe) -> None:
    """Compile a model the way the training chapter does: SGD with momentum, sparse cross-entropy, accuracy; and
    set BatchNormalization's momentum where the recipe has one (it is read when the step is traced: before fit)."""
    from alexnet_book.train import compile_for_training, set_batchnorm_momentum

    if recipe.batchnorm_momentum is not None:
        set_batchnorm_momentum(model, recipe.batchnorm_momentum)
    compile_for_training(model, recipe.learning_rate, recipe.momentum)


def run_experiment(
    name: str,
    data: ExperimentData,
    sizes: ExperimentSizes,
    *,
    build: Callable | None = None,
    options: Mapping | None = None,
    seed: int = 42,
    target_error: float | None = None,
    recipe: Recipe | None = None,
    verbose: int = 0,
) -> RunRecord:
    """Build a model, train it briefly with the book's recipe on `data`, and return what it measured.

    name: the run's label in tables and figures.
    data: experiment_data(...)'s images, the same for every run of an experiment.
    sizes: epochs and batch size (experiment_sizes(profile, scale)); the images are data's, which
        experiment_data already cut to sizes.
    build, options: the model is build(**options); without build it is the real AlexNet,
        build_alexnet(**alexnet_options(**options)), e.g. options={"normalization": "lrn"}.
    seed: the same seed gives the same initial weights, image order and dropout masks, so two runs differ only by
        their options (and on a CPU the same options give the same numbers again).
    target_error: also record the first epoch whose training error is at most this (chapter 4's race).
    recipe: learning rate, momentum and BatchNormalization's momentum (default: the paper's, training_recipe()).
    """
    if not isinstance(data, ExperimentData):
        raise TypeError(f"data must be experiment_data(...)'s ExperimentData, got {type(data).__name__}.")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty label for the run, got {name!r}.")
    if not isinstance(sizes, ExperimentSizes):
        raise TypeError(
            f"sizes must be an ExperimentSizes (see experiment_sizes(profile, scale)), got {type(sizes).__name__}."
        )
    _check_target(target_error)
    _check_seed(seed)
    recipe = training_recipe() if recipe is None else recipe
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a Recipe (see training_recipe(profile)), got {type(recipe).__name__}.")
    options = dict(options or {})

    started = time.perf_counter()
    keras.backend.clear_session()  # forget earlier runs' graphs and layer names: memory stays flat over many runs
    # the same seed gives the same run; on a CPU with deterministic ops (as the training chapter), not on a GPU,
    # where determinism costs speed and some ops have no deterministic kernel
    seed_everything(int(seed))
    model = build_model(build, options)
    if tuple(model.inputs[0].shape[1:]) != data.x_train.shape[1:]:
        raise ValueError(
            f"run {name!r}: the model takes images of shape {tuple(model.inputs[0].shape[1:])}, the data has "
            f"{data.x_train.shape[1:]}: build it for {data.x_train.shape[1:]} images (for AlexNet, raw_image_size=32)."
        )
    if model.outputs[0].shape[-1] != data.num_classes:
        raise ValueError(
            f"run {name!r}: the model has {model.outputs[0].shape[-1]} outputs, the data {data.num_classes} classes."
        )
    compile_with_recipe(model, recipe)
    fitted = model.fit(
        data.x_train,
        data.y_train,
        batch_size=sizes.batch_size,
        epochs=sizes.epochs,
        validation_data=(data.x_validation, data.y_validation),
        shuffle=True,
        callbacks=[EpochTimer()],  # the training chapter's timing: each epoch, the first one compiles
        verbose=verbose,
    )
    history = {key: [float(v) for v in values] for key, values in fitted.history.items()}
    record = RunRecord(
        name=name,
        options=options,
        history=history,
        train_accuracy=history["accuracy"][-1],
        train_loss=history["loss"][-1],
        validation_accuracy=history["val_accuracy"][-1],
        validation_loss=history["val_loss"][-1],
        wall_seconds=time.perf_counter() - started,
        images_per_second=throughput(history, data.train_images),
        parameters=int(model.count_params()),
        layers=tuple((layer.name, type(layer).__name__) for layer in model.layers),
        epochs=sizes.epochs,
        batch_size=sizes.batch_size,
        train_images=data.train_images,
        validation_images=data.validation_images,
        num_classes=data.num_classes,
        seed=seed,
        recipe=recipe,
        data_source=data.source,
        target_error=target_error,
        epochs_to_target=None if target_error is None else epochs_to_target(history, target_error),
    )
    del model, fitted
    return record


# --------------------------------------------------------------------------------------------------
# Reading records: what a difference of accuracies can say


def standard_error(accuracy: float, images: int) -> float:
    """How much an accuracy measured on `images` images moves by chance alone: sqrt(p (1 - p) / n)."""
    check_positive_int("images", images)
    return math.sqrt(max(accuracy * (1 - accuracy), 0.0) / images)


def beyond_chance(accuracy: float, images: int, classes: int) -> bool:
    """Whether an accuracy on `images` images is clearly above guessing among `classes` classes: more than three
    standard errors of a guesser's accuracy above 1 / classes (a guesser passes about once in 700 tries)."""
    chance = 1 / classes
    return accuracy > chance + 3 * standard_error(chance, images)


@dataclass(frozen=True)
class AblationReading:
    """What a set of ablations can say against a baseline and the baseline repeated with another seed.

    noise: the larger of the seed difference and two standard errors of the baseline's validation accuracy (with
        few images, two seeds can agree by luck, and one image more or less must not count as a change);
    changes: each ablation's validation accuracy minus the baseline's;
    largest: the ablations with the largest change (several where they tie within half an image);
    beyond_noise: the ablations whose change exceeds the noise;
    baseline_learned: whether the baseline is clearly above chance (beyond_chance).
    """

    noise: float
    seed_difference: float
    changes: dict
    largest: tuple
    beyond_noise: tuple
    baseline_learned: bool


def read_ablations(records: Sequence[RunRecord], baseline: str, repeat: str) -> AblationReading:
    """Read ablation records against the run named `baseline` and its repeat with another seed, `repeat`."""
    by_name = {r.name: r for r in _check_records(records)}
    missing = [name for name in (baseline, repeat) if name not in by_name]
    if missing:
        raise ValueError(f"no run named {', '.join(map(repr, missing))} among {', '.join(map(repr, by_name))}.")
    base = by_name[baseline]
    images = base.validation_images
    seed_difference = abs(base.validation_accuracy - by_name[repeat].validation_accuracy)
    noise = max(seed_difference, 2 * standard_error(base.validation_accuracy, images))
    changes = {
        r.name: r.validation_accuracy - base.validation_accuracy for r in records if r.name not in (baseline, repeat)
    }
    largest_size = max((abs(change) for change in changes.values()), default=0.0)
    half_an_image = 0.5 / images
    return AblationReading(
        noise=noise,
        seed_difference=seed_difference,
        changes=changes,
        largest=tuple(name for name, change in changes.items() if abs(change) > largest_size - half_an_image),
        beyond_noise=tuple(name for name, change in changes.items() if abs(change) > noise),
        baseline_learned=beyond_chance(base.validation_accuracy, images, base.num_classes),
    )


def ablation_headline(reading: AblationReading, baseline_accuracy: float) -> str:
    """Chapter 8's first line after the colon: what its runs can say."""
    if not reading.baseline_learned:
        return (
            f"each run is too short to measure anything: the baseline ended at {baseline_accuracy:.1%} validation "
            "accuracy, not clearly above chance, so the runs only check that every variant builds and trains"
        )
    return (
        f"the baseline reached {baseline_accuracy:.1%} validation accuracy, and a difference counts only beyond "
        f"{reading.noise * 100:.1f} points of noise"
    )


# --------------------------------------------------------------------------------------------------
# Gathering records


def describe_options(options: Mapping) -> str:
    """Options as a short label, e.g. "normalization=lrn, dropout=0"; "(baseline)" for none."""
    return ", ".join(f"{key}={value}" for key, value in options.items()) or "(baseline)"


def _check_records(records) -> list[RunRecord]:
    records = list(records)
    if not records or not all(isinstance(r, RunRecord) for r in records):
        raise ValueError("pass a non-empty list of run_experiment(...) records.")
    names = [r.name for r in records]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"runs need different names to be told apart; repeated: {', '.join(repeated)}.")
    return records


def results_table(records: Sequence[RunRecord], show_options: bool = True) -> str:
    """One row per run: parameters, epochs, final training and validation accuracy and loss, speed and time
    (and epochs to the target training error where one was asked)."""
    records = _check_records(records)
    with_target = any(r.target_error is not None for r in records)
    header = (
        ["run"]
        + (["options"] if show_options else [])
        + ["parameters", "epochs", "train acc", "val acc", "train loss", "val loss", "img/s", "seconds"]
    )
    if with_target:
        header.append("epochs to target")
    rows = []
    for r in records:
        row = (
            [r.name]
            + ([describe_options(r.options)] if show_options else [])
            + [
                f"{r.parameters:,}",
                str(r.epochs),
                f"{r.train_accuracy:.1%}",
                f"{r.validation_accuracy:.1%}",
                f"{r.train_loss:.3f}",
                f"{r.validation_loss:.3f}",
                "n/a" if math.isnan(r.images_per_second) else f"{r.images_per_second:,.0f}",
                f"{r.wall_seconds:.1f}",
            ]
        )
        if with_target:
            row.append(
                "-"
                if r.target_error is None
                else str(r.epochs_to_target)
                if r.epochs_to_target
                else f"not in {r.epochs}"
            )
        rows.append(row)
    return text_table(header, rows)


def comparison_figure(records: Sequence[RunRecord], title: str | None = None, target_error: float | None = None):
    """One figure for a set of runs: training error per epoch (left) and the final training and validation
    accuracy of each run beside chance (right). target_error draws the race's finishing line on the left."""
    import matplotlib.pyplot as plt

    records = _check_records(records)
    _check_target(target_error)
    fig, (curves, bars) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1.1, 1]})
    for r in records:
        epochs = np.arange(1, len(r.history["accuracy"]) + 1)
        curves.plot(epochs, 1 - np.asarray(r.history["accuracy"]), marker="o", label=r.name)
    if target_error is not None:
        curves.axhline(target_error, color="black", linestyle="--", linewidth=1)
        curves.text(0.55, target_error, f"target {target_error:.0%}", va="bottom", fontsize=9)
    epochs = max(len(r.history["accuracy"]) for r in records)
    curves.set_xlim(0.5, epochs + 0.5)
    if epochs <= 12:
        curves.set_xticks(range(1, epochs + 1))
    else:
        curves.xaxis.get_major_locator().set_params(integer=True)
    curves.set_xlabel("epoch")
    curves.set_ylabel("training error (1 - accuracy)")
    curves.set_ylim(0, 1)
    curves.grid(alpha=0.3)
    curves.legend(fontsize=8)

    positions = np.arange(len(records))
    width = 0.38
    bars.bar(positions - width / 2, [r.train_accuracy for r in records], width, label="training (last epoch)")
    bars.bar(positions + width / 2, [r.validation_accuracy for r in records], width, label="validation")
    chance = 1 / records[0].num_classes
    bars.axhline(chance, color="tab:red", linestyle=":", linewidth=1.5, label=f"chance ({chance:.0%})")
    bars.set_xticks(positions, [r.name for r in records], rotation=25, ha="right")
    bars.set_ylabel("accuracy")
    bars.set_ylim(0, 1)
    bars.grid(alpha=0.3, axis="y")
    bars.legend(fontsize=8, loc="upper right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
