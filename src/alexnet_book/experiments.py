"""Short comparative training runs: change one thing, train briefly with the book's recipe, compare the records.

Chapter 4 (what made AlexNet work) races small 32x32 networks against each other; chapter 8 (ablations) trains the
real AlexNet with one option changed at a time. Both use this module:

    sizes = start_page(PROFILE, SEED).small_experiments  # or .alexnet_experiments (alexnet_book.profiles)
    data = experiment_data(load_cifar10(...), sizes, seed=42)
    relu = run_experiment("relu", data, sizes, build=my_net, options={"activation": "relu"}, target_error=0.5)
    tanh = run_experiment("tanh", data, sizes, build=my_net, options={"activation": "tanh"}, target_error=0.5)
    print(results_table([relu, tanh])); comparison_figure([relu, tanh])

Every run starts from the same seed, sees the same images in the same order, and trains with SGD and momentum as the
training chapter does (alexnet_book.recipe: by default the paper's recipe, or recipe_for(profile) for that chapter's
settings at a profile, in the precision that suits the machine); the real AlexNet also gets the paper's coupled
weight decay through build_alexnet. The learning rate stays constant: with the paper's schedule (divide by 10 when
the validation error stops improving) each run's rate would drop at a different epoch, and a comparison would mix the
option's effect with the schedule's. Backend-neutral Keras 3.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import keras
import numpy as np

from alexnet_book.bilingual import say
from alexnet_book.callbacks import EpochTimer, throughput
from alexnet_book.checks import check_number, check_positive_int, check_seed
from alexnet_book.data import VALIDATION_FRACTION, training_subsets
from alexnet_book.model import build_alexnet
from alexnet_book.profiles import PAPER_WEIGHT_DECAY, ExperimentSizes
from alexnet_book.recipe import Recipe, build_model, compile_model, in_force, recipe_for, seed_everything
from alexnet_book.tables import text_table

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
            f"sizes must be an ExperimentSizes (a Profile's small_experiments or alexnet_experiments), "
            f"got {type(sizes).__name__}."
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
    in_force: what the compiled model ran with (alexnet_book.recipe.in_force: precision, XLA, loss scaling).
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
    in_force: dict = field(default_factory=dict)

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
    """build_alexnet's keywords for an experiment on the real AlexNet: the post's CIFAR-10 model taking uint8 32x32
    images (resized to 227 inside the model) with the paper's coupled weight decay, changed by `options`."""
    return {"variant": "cifar10", "raw_image_size": 32, "weight_decay": PAPER_WEIGHT_DECAY, **options}


def experiment_model(build: Callable | None, options: Mapping | None, recipe: Recipe):
    """The model of one run, built by the recipe (alexnet_book.recipe.build_model): build(**options), or
    build_alexnet(**alexnet_options(**options)) when build is None."""
    options = dict(options or {})
    if build is None:
        build, options = build_alexnet, alexnet_options(**options)
    if not callable(build):
        raise TypeError(f"build must be a function that returns a Keras model (or None for AlexNet), got {build!r}.")
    model = build_model(build, recipe, **options)
    if not isinstance(model, keras.Model):
        raise TypeError(f"{getattr(build, '__name__', 'build')} returned {type(model).__name__}, not a Keras model.")
    return model


def _check_target(target_error):
    if target_error is not None:
        check_number("target_error (a training error, e.g. 0.25)", target_error, 0, 1, low_open=True, high_open=True)


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
    sizes: epochs and batch size (a Profile's small_experiments or alexnet_experiments); the images are data's, which
        experiment_data already cut to sizes.
    build, options: the model is build(**options); without build it is the real AlexNet,
        build_alexnet(**alexnet_options(**options)), e.g. options={"normalization": "lrn"}.
    seed: the same seed gives the same initial weights, image order and dropout masks, so two runs differ only by
        their options (and on a CPU the same options give the same numbers again).
    target_error: also record the first epoch whose training error is at most this (chapter 4's race).
    recipe: how it trains (alexnet_book.recipe.Recipe; default: the paper's, recipe_for(), at this machine's
        precision).
    """
    if not isinstance(data, ExperimentData):
        raise TypeError(f"data must be experiment_data(...)'s ExperimentData, got {type(data).__name__}.")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty label for the run, got {name!r}.")
    if not isinstance(sizes, ExperimentSizes):
        raise TypeError(
            f"sizes must be an ExperimentSizes (a Profile's small_experiments or alexnet_experiments), "
            f"got {type(sizes).__name__}."
        )
    _check_target(target_error)
    check_seed("seed", seed)
    recipe = recipe_for() if recipe is None else recipe
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a Recipe (see recipe_for(profile)), got {type(recipe).__name__}.")
    options = dict(options or {})

    started = time.perf_counter()
    keras.backend.clear_session()  # forget earlier runs' graphs and layer names: memory stays flat over many runs
    # the same seed gives the same run; on a CPU with deterministic ops (as the training chapter), not on a GPU,
    # where determinism costs speed and some ops have no deterministic kernel
    seed_everything(int(seed))
    model = experiment_model(build, options, recipe)
    if tuple(model.inputs[0].shape[1:]) != data.x_train.shape[1:]:
        raise ValueError(
            f"run {name!r}: the model takes images of shape {tuple(model.inputs[0].shape[1:])}, the data has "
            f"{data.x_train.shape[1:]}: build it for {data.x_train.shape[1:]} images (for AlexNet, raw_image_size=32)."
        )
    if model.outputs[0].shape[-1] != data.num_classes:
        raise ValueError(
            f"run {name!r}: the model has {model.outputs[0].shape[-1]} outputs, the data {data.num_classes} classes."
        )
    compile_model(model, recipe)
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
        in_force=in_force(model),
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


def ablation_headline(reading: AblationReading, baseline_accuracy: float):
    """Chapter 8's first line after the colon: what its runs can say (a bilingual.Phrase)."""
    if not reading.baseline_learned:
        return say(
            "each run is too short to measure anything: the baseline ended at {accuracy:.1%} validation accuracy, not "
            "clearly above chance, so the runs only check that every variant builds and trains",
            accuracy=baseline_accuracy,
        )
    return say(
        "the baseline reached {accuracy:.1%} validation accuracy, and a difference counts only beyond {noise:.1f} "
        "points of noise",
        accuracy=baseline_accuracy,
        noise=reading.noise * 100,
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
    # a line style and a marker of its own for each run: curves that lie on each other stay visible
    styles = ("-", "--", ":", "-.")
    markers = ("o", "s", "^", "D", "v", "P", "X")
    for number, r in enumerate(records):
        epochs = np.arange(1, len(r.history["accuracy"]) + 1)
        curves.plot(
            epochs,
            1 - np.asarray(r.history["accuracy"]),
            linestyle=styles[number % len(styles)],
            marker=markers[number % len(markers)],
            markerfacecolor="none",
            label=r.name,
        )
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
