"""Training AlexNet on CIFAR-10 the paper's way (alexnet_book.recipe): the code the training chapter and the
command line share.

A run (train) takes these steps: resolve the settings (TrainConfig.resolved); load the data and choose its images;
claim the run folder (alexnet_book.runs: lock it for this process, then train fresh, resume after the last
committed epoch, test a finished run again, reuse it, or refuse a folder that holds something else); build and
compile the model, restoring the last commit; fit epoch by epoch (alexnet_book.callbacks: the schedule, the clock,
the per-epoch commit), each epoch's image order and random layers drawn from (seed, epoch), so that a run
interrupted at any point and resumed trains exactly as one that went straight through; test the best weights;
write the record.

Command line: python -m alexnet_book.train --profile smoke (or alexnet-book-train); the run's folder is
runs/training-<profile>-<digest of its settings> unless --output-dir names another. Keras is imported only when a
run starts (in the functions that need it), so that --help and a bad flag answer at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alexnet_book import recipe, runs
from alexnet_book.checks import check_number, check_positive_int, check_seed
from alexnet_book.data import load_cifar10, training_subsets
from alexnet_book.hardware import describe_device, gpu_available, precision_policy
from alexnet_book.profiles import (  # noqa: F401  (the paper's numbers, importable from here too)
    PAPER_BATCH_SIZE,
    PAPER_LEARNING_RATE,
    PAPER_MOMENTUM,
    PAPER_WEIGHT_DECAY,
    PROFILES,
    get_profile,
)
from alexnet_book.recipe import (  # noqa: F401  (importable from here too)
    Recipe,
    TrainingOutOfMemory,
    in_force,
    seed_everything,
    set_batchnorm_momentum,
)
from alexnet_book.runs import (  # noqa: F401
    RUN_FORMAT,
    RunFiles,
    RunFolderError,
    prepare_run_folder,
    read_backup,
)

PRECISIONS = ("auto",) + recipe.PRECISIONS

# Importable from here as well; they load Keras, so they are imported when first asked for.
_FROM_CALLBACKS = ("EpochCommit", "EpochTimer", "StepDownOnPlateau", "throughput", "LR_DIVISOR", "MAX_LR_REDUCTIONS")


def __getattr__(name):
    if name in _FROM_CALLBACKS:
        from alexnet_book import callbacks

        return getattr(callbacks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run. None and "auto" mean "decided by the profile or the hardware" (resolved()).

    weight_decay is the paper's coupled form: an L2 penalty (weight_decay / 2) * ||w||^2 on the kernels.
    precision "auto" picks by hardware (alexnet_book.hardware.precision_policy): mixed_bfloat16 on Ampere and
    newer GPUs, mixed_float16 (with loss scaling) on Volta and Turing ones like Colab's T4, float32 on older GPUs
    (no tensor cores) and on a CPU. The run records the policy in force in the model, not this setting.
    jit_compile "auto": XLA on a GPU; on a CPU only with the JAX backend (TensorFlow trained slower with it there,
    JAX without it runs every operation separately), as Keras's own "auto".
    deterministic "auto": the same history for the same seed on a CPU without XLA (TensorFlow's op determinism,
    which also switches XLA off); on a GPU that costs speed, so it is off unless asked for.
    learning_rate: the paper's 0.01 under full; the short profiles start lower (alexnet_book.profiles).
    batchnorm_momentum: how fast BatchNormalization's moving averages (used at inference) follow the batches.
    Keras's 0.99 needs some hundreds of steps to forget its starting values; a smoke run has about 30 steps,
    so the short profiles use 0.9 (full keeps 0.99).
    output_dir None: the run's own folder, default_run_folder (runs/training-<profile>-<digest of the settings>).
    """

    profile: str = "auto"
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    momentum: float = PAPER_MOMENTUM
    weight_decay: float = PAPER_WEIGHT_DECAY
    seed: int = 42
    data_dir: str | None = None
    output_dir: str | None = None
    train_size: int | None = None
    validation_size: int | None = None
    test_size: int | None = None
    augment: bool | None = None
    plateau_patience: int | None = None
    batchnorm_momentum: float | None = None
    precision: str = "auto"
    jit_compile: bool | str = "auto"
    deterministic: bool | str = "auto"
    download: bool = True
    overwrite: bool = False
    verbose: int = 1

    def __post_init__(self):
        if not isinstance(self.profile, str) or self.profile.lower() not in PROFILES + ("auto",):
            raise ValueError(f"unknown profile {self.profile!r}: choose one of {', '.join(PROFILES + ('auto',))}.")
        for name in ("epochs", "batch_size", "train_size", "validation_size", "test_size", "plateau_patience"):
            check_positive_int(name, getattr(self, name), allow_none=True)
        if self.learning_rate is not None:
            check_number("learning_rate", self.learning_rate, 0, 10, low_open=True)
        check_number("momentum", self.momentum, 0, 0.9999)
        check_number("weight_decay", self.weight_decay, 0, 1)
        if self.batchnorm_momentum is not None:
            check_number("batchnorm_momentum", self.batchnorm_momentum, 0, 1, low_open=True)
        check_seed("seed", self.seed)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}.")
        for name in ("jit_compile", "deterministic"):
            if getattr(self, name) not in (True, False, "auto"):
                raise ValueError(f"{name} must be True, False or 'auto', got {getattr(self, name)!r}.")
        if self.augment not in (None, True, False):
            raise ValueError(f"augment must be True, False or None (the profile's choice), got {self.augment!r}.")
        if self.output_dir is not None and (
            not isinstance(self.output_dir, (str, os.PathLike)) or not str(self.output_dir).strip()
        ):
            raise ValueError(f"output_dir must name a folder (or None for the run's own), got {self.output_dir!r}.")
        if self.output_dir is not None and Path(self.output_dir).exists() and not Path(self.output_dir).is_dir():
            raise ValueError(f"output_dir {self.output_dir} is a file, not a folder: choose a folder for the run.")
        if self.data_dir is not None and (
            not isinstance(self.data_dir, (str, os.PathLike)) or not Path(self.data_dir).expanduser().is_dir()
        ):
            raise ValueError(
                f"data_dir {self.data_dir!r} is not an existing folder: name the folder that holds CIFAR-10's "
                "data_batch_1..5 and test_batch (or its parent), or leave it out to download CIFAR-10."
            )

    def resolved(self) -> TrainConfig:
        """A copy with every choice made, once: the profile (auto -> smoke/quick/full) and its sizes, the
        precision, XLA and op determinism for this machine."""
        profile = get_profile(self.profile)
        defaults = dataclasses.asdict(profile.training)
        sizes = {name: defaults[name] if getattr(self, name) is None else getattr(self, name) for name in defaults}
        precision, jit, deterministic = self.precision, self.jit_compile, self.deterministic
        if "auto" in (precision, jit, deterministic):
            precision = precision_policy() if precision == "auto" else precision
            jit = recipe.xla_suits_this_machine() if jit == "auto" else jit
            # TensorFlow's op determinism switches XLA off, so "auto" gives it only to CPU runs without XLA
            deterministic = (not gpu_available() and not jit) if deterministic == "auto" else deterministic
        return dataclasses.replace(
            self, profile=profile.name, precision=precision, jit_compile=jit, deterministic=deterministic, **sizes
        )

    def recipe(self) -> Recipe:
        """How a resolved run trains (alexnet_book.recipe): its rate, momenta, precision and XLA."""
        return Recipe(self.learning_rate, self.momentum, self.batchnorm_momentum, self.precision, self.jit_compile)

    def identity(self) -> dict:
        """The settings that make two runs the same run (where the folder is or how verbose it is do not)."""
        skip = {"output_dir", "overwrite", "verbose", "download", "data_dir", "jit_compile", "deterministic"}
        settings = {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}
        return {"run_format": RUN_FORMAT, **settings}


@dataclass(frozen=True)
class TrainingResult(runs.RunSummary):
    """What a run leaves for the page: its record (runs.RunSummary, results.json), its history and test predictions,
    and where everything is."""

    config: TrainConfig
    history: dict  # column -> list, one entry per epoch, over every session of the run
    y_true: np.ndarray
    y_pred: np.ndarray
    probabilities: np.ndarray
    test_indices: np.ndarray  # positions in the data set's test split of the images evaluated
    reused: bool  # True: the folder held this finished run, nothing was trained again
    output_dir: Path
    wall_seconds: float = math.nan  # this call, from loading the data to the last prediction
    model: object = field(default=None, repr=False)

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.output_dir) / RunFiles.BEST_CHECKPOINT

    @property
    def epochs_run(self) -> int:
        return len(self.history.get("epoch", []))

    def load_best_model(self):
        return load_model_file(self.checkpoint_path)


def load_model_file(path: Path):
    """A saved model of a run (best.keras), with a message that names the file where it is damaged."""
    import keras

    import alexnet_book.layers  # noqa: F401  (registers the custom layers for loading)

    runs.check_model_file(path, runs.MODEL_LOST)
    try:
        return keras.models.load_model(path)
    except (OSError, ValueError) as error:
        raise runs.damaged(path, error, runs.MODEL_LOST) from None


# --------------------------------------------------------------------------------------------------
# The run's model


def build_training_model(config: TrainConfig, num_classes: int = 10):
    """The model a run trains: the post's CIFAR-10 AlexNet (BatchNormalization, 10 classes) taking uint8 32x32
    images and resizing them to 227 inside, with the paper's coupled weight decay on its kernels."""
    from alexnet_book.model import build_alexnet

    return build_alexnet(
        "cifar10",
        num_classes=num_classes,
        raw_image_size=32,
        augment=bool(config.augment),
        weight_decay=config.weight_decay or None,
    )


def draw_epoch_randomness(model, seed: int, epoch: int, count: int) -> np.ndarray:
    """This epoch's order of the `count` training images, and a new state for the generator of every random
    layer (dropout, random shifts and flips), both drawn from (seed, epoch) alone. Nothing random then depends on
    what ran before in the process: a resumed run trains each epoch as an uninterrupted one does. (The generators'
    states are the variables Keras keeps beside the weights, in no weights file.)"""
    rng = np.random.default_rng([seed, epoch])
    weights = {id(weight) for weight in model.weights}
    for generator in (variable for variable in model.variables if id(variable) not in weights):
        generator.assign(np.array([rng.integers(1, 2**31), 0], dtype=generator.dtype))
    return rng.permutation(count)


# --------------------------------------------------------------------------------------------------
# Interruptions


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by an interrupt (Ctrl-C, a notebook's stop button); the message says what it kept."""


@contextlib.contextmanager
def explain_interruption(files: RunFiles, epochs: int):
    try:
        yield
    except KeyboardInterrupt as interrupt:
        if isinstance(interrupt, RunInterrupted):
            raise
        done = runs.committed_epochs(files)
        kept = f"epoch {done} of {epochs} is the last one committed" if done else "no epoch was committed yet"
        raise RunInterrupted(
            f"Interrupted: {kept} in {files.folder}. Run the same command (or cell) again to resume."
        ) from None


# --------------------------------------------------------------------------------------------------
# A run, step by step


def train(config: TrainConfig | None = None, *, data=None, **settings) -> TrainingResult:
    """Train (or resume, or reuse) a run; see TrainConfig for the settings.

    train(TrainConfig(profile="smoke", output_dir="runs/x")) or train(profile="smoke", output_dir="runs/x").
    data: an alexnet_book.data.CIFAR10 already loaded (else load_data reads what the settings name).
    """
    started = time.perf_counter()
    config = (TrainConfig(**settings) if config is None else dataclasses.replace(config, **settings)).resolved()
    data = load_data(config) if data is None else data
    images = choose_images(config, data)
    data_identity = {"data_source": data.source, "data_images": [len(data.x_train), len(data.x_test)]}
    if config.output_dir is None:
        config = dataclasses.replace(config, output_dir=str(default_run_folder(config, data_identity)))
    files, identity = RunFiles(config.output_dir), {**config.identity(), **data_identity}
    if not config.overwrite:
        runs.refuse_other_files(files)  # before the lock is written into someone's folder
    with runs.RunLock(files), explain_interruption(files, config.epochs):
        plan = prepare_run_folder(files, identity, config.overwrite)
        if plan.action == "reuse":
            result = reuse_finished_run(config, files)
        elif plan.action == "evaluate":
            result = test_again(config, files, plan.manifest, data, images)
        else:
            result = train_in_folder(config, files, identity, plan.state, data, images)
    return dataclasses.replace(result, wall_seconds=time.perf_counter() - started)


def load_data(config: TrainConfig):
    """CIFAR-10 from the settings' data_dir, else $ALEXNET_BOOK_CIFAR10_DIR, else the download, else (smoke and
    quick only) the generated stand-in; see alexnet_book.data.load_cifar10."""
    return load_cifar10(config.data_dir, profile=config.profile, download=config.download)


def choose_images(config: TrainConfig, data):
    """The 80/20 split of the training images (seeded, as in the post) and the profile's subsets of it and of
    the test images (a seeded choice, in their original order): x_train, y_train, x_val, y_val, test_indices."""
    if config.test_size is not None and config.test_size > len(data.x_test):
        raise ValueError(
            f"test_size={config.test_size} but the {data.source} data has only {len(data.x_test)} test images: "
            f"ask for at most {len(data.x_test)}, or None for all of them."
        )
    subsets = training_subsets(data, config.train_size, config.validation_size, config.seed)
    test_order = np.random.default_rng(config.seed).permutation(len(data.x_test))
    return (*subsets, np.sort(test_order[: config.test_size or len(test_order)]))


def default_run_folder(config: TrainConfig, data_identity: dict) -> Path:
    """runs/training-<profile>-<8 hex digits of the run's settings and data>: a run with other settings gets
    another folder, so that none replaces another, and the same settings find their run again (to resume it,
    or to reuse it finished). Relative to the working directory (a notebook's own folder)."""
    identity = json.dumps({**config.identity(), **data_identity}, sort_keys=True)
    return Path("runs") / f"training-{config.profile}-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"


def train_in_folder(config, files, identity, state, data, images) -> TrainingResult:
    """Fit from the epoch after the last commit (state; None: from the first), test the best weights, record."""
    x_train, y_train, x_val, y_val, test_indices = images
    seed_everything(config.seed, config.deterministic)
    model = build_and_compile(config, len(data.class_names))
    if state:
        restore_committed_epoch(model, files, state)
    manifest = start_session(config, files, identity, data, model, state)
    facts = known_before_the_test(manifest, data, images)
    if config.verbose and state:
        print(f"Resuming the run in {files.folder} after epoch {state['epochs_done']} of {config.epochs}.")
    with recipe.explain_out_of_memory(model, config.batch_size, facts["device"], config.output_dir):
        commit = fit_epochs(model, config, files, identity, state, (x_train, y_train), (x_val, y_val))
        model.load_weights(str(files.backup / commit.best_weights))
        result = test_and_record(config, files, model, runs.history_columns(commit.rows), data, test_indices, facts)
    model.save(str(files.best_checkpoint))
    dataclasses.replace(manifest, status="complete").write(files)
    shutil.rmtree(files.backup, ignore_errors=True)  # the run is complete: best.keras and the history remain
    return result


def build_and_compile(config: TrainConfig, num_classes: int):
    """The run's model built and compiled by its recipe (alexnet_book.recipe)."""
    model = recipe.build_model(build_training_model, config.recipe(), config=config, num_classes=num_classes)
    recipe.compile_model(model, config.recipe())
    return model


def restore_committed_epoch(model, files: RunFiles, state: dict) -> None:
    """Load the committed epoch's weights and optimizer state (momentum, step count, learning rate)."""
    path = files.backup / state["latest_weights"]
    model.optimizer.build(model.trainable_variables)  # its variables must exist to be loaded into
    try:
        model.load_weights(str(path))
    except (OSError, ValueError) as error:
        fix = "Move the folder aside and start the run again, or pass overwrite=True (--overwrite) to replace it."
        raise runs.damaged(path, error, fix) from None


def start_session(config, files, identity, data, model, state) -> runs.Manifest:
    """Mark the run as running in run.json (written again, whatever it held), make history.csv the committed rows
    and remove weights that no commit names."""
    if state:
        runs.write_history(files.history, state["history"])
    if files.backup.exists():
        runs.remove_unreferenced_weights(files, {state["latest_weights"], state["best_weights"]} if state else set())
    manifest = runs.Manifest(
        identity=identity,
        status="running",
        config={k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(config).items()},
        data_description=data.description,
        in_force=in_force(model),
        resumed_from_epoch=state["epochs_done"] if state else 0,
    )
    manifest.write(files)
    return manifest


def fit_epochs(model, config, files, identity, state, training, validation):
    """Fit the epochs after the last commit, one fit call per epoch, each on the training images in the order
    draw_epoch_randomness gives for (seed, epoch); returns the EpochCommit, which holds every epoch's row."""
    from alexnet_book.callbacks import EpochCommit, EpochTimer, OneEpoch, StepDownOnPlateau

    rows = state["history"] if state else []
    schedule = StepDownOnPlateau(config.plateau_patience, past_errors=[1.0 - row["val_accuracy"] for row in rows])
    commit = EpochCommit(files, identity, state)
    callbacks = [EpochTimer(), schedule, commit, OneEpoch()]
    x, y = training
    for epoch in range(len(rows), config.epochs):
        order = draw_epoch_randomness(model, config.seed, epoch, len(x))
        model.fit(
            x[order],
            y[order],
            batch_size=config.batch_size,
            epochs=config.epochs,
            initial_epoch=epoch,
            validation_data=validation,
            shuffle=False,  # the order above is this epoch's shuffle
            callbacks=callbacks,
            verbose=config.verbose,
        )
    return commit


def known_before_the_test(manifest: runs.Manifest, data, images) -> dict:
    """The fields of the run's record (RunSummary) that its test does not decide."""
    return dict(
        **manifest.in_force,
        device=describe_device(),
        data_source=data.source,
        data_description=data.description,
        train_images=len(images[0]),
        validation_images=len(images[2]),
        resumed_from_epoch=manifest.resumed_from_epoch,
    )


def test_and_record(config, files, model, history, data, test_indices, facts) -> TrainingResult:
    """Test the model (the best weights) and write predictions.npz and results.json; facts: what the run knows of
    itself before the test (runs.RunSummary's other fields)."""
    from alexnet_book.callbacks import throughput

    x_test, y_test = data.x_test[test_indices], data.y_test[test_indices]
    best_epoch = int(np.argmax(history["val_accuracy"])) + 1 if history.get("val_accuracy") else config.epochs
    probabilities = model.predict(x_test, batch_size=max(config.batch_size, 64), verbose=0).astype(np.float32)
    y_pred = probabilities.argmax(axis=1)
    result = TrainingResult(
        **facts,
        test_accuracy=float(np.mean(y_pred == y_test)),
        test_loss=float(-np.mean(np.log(np.clip(probabilities[np.arange(len(y_test)), y_test], 1e-12, 1.0)))),
        best_epoch=best_epoch,
        evaluated_weights=f"best validation error (epoch {best_epoch})",
        training_seconds=float(sum(history.get("epoch_seconds", []))),
        images_per_second=throughput(history, facts["train_images"]),
        config=config,
        history=history,
        y_true=y_test,
        y_pred=y_pred,
        probabilities=probabilities,
        test_indices=test_indices,
        reused=False,
        output_dir=files.folder,
        model=model,
    )
    np.savez_compressed(
        files.predictions, y_true=y_test, y_pred=y_pred, probabilities=probabilities, test_indices=test_indices
    )
    result.write(files)
    return result


def test_again(config, files, manifest: runs.Manifest, data, images) -> TrainingResult:
    """A finished run whose test results were deleted: its best.keras tested again, nothing trained."""
    model = load_model_file(files.best_checkpoint)
    facts = known_before_the_test(manifest, data, images)
    return test_and_record(config, files, model, runs.read_history(files.history), data, images[-1], facts)


def reuse_finished_run(config, files: RunFiles) -> TrainingResult:
    """The finished run in the folder, read back: nothing is trained or tested again."""
    if config.verbose:
        print(
            f"{files.folder} holds this finished run: its results are loaded, nothing is trained again "
            "(to train it again, choose another output folder, or move this one aside)."
        )
    summary = runs.RunSummary.read(files)
    return TrainingResult(
        **dataclasses.asdict(summary),
        **runs.read_predictions(files),
        config=config,
        history=runs.read_history(files.history),
        reused=True,
        output_dir=files.folder,
    )


# --------------------------------------------------------------------------------------------------
# Command line


def main(argv=None) -> int:
    """The command line (alexnet_book.command_line), here so that `python -m alexnet_book.train` runs it."""
    from alexnet_book.command_line import (
        main as command_line,  # it imports this module: a cycle at the top
    )

    return command_line(argv)


if __name__ == "__main__":
    sys.exit(main())
