"""Training AlexNet on CIFAR-10 the paper's way: the code the training chapter and the command line share.

The recipe (Krizhevsky et al. 2012, section 5): SGD with momentum 0.9, batch 128, learning rate 0.01 divided by 10
when the validation loss stops improving (at most 3 times), weight decay 0.0005. The paper's weight decay sits
inside the momentum update (v <- 0.9 v - 0.0005 eps w - eps dL/dw), which is an L2 penalty (0.0005 / 2) ||w||^2
added to the loss: "coupled" weight decay. Keras's `SGD(weight_decay=...)` is the decoupled kind (it shrinks the
weights outside the gradient), so the book puts the penalty on the kernels instead (build_alexnet(weight_decay=...)).

A run writes into its own folder (see RunFiles) and can be interrupted at any time: started again with the same
settings, it resumes after the last finished epoch and keeps one history for all epochs. A folder that holds
another run is never overwritten unless overwrite=True is passed.

Command line: python -m alexnet_book.train --profile smoke --output-dir runs/smoke (or alexnet-book-train).
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from alexnet_book.hardware import describe_device
from alexnet_book.profiles import PROFILES

PAPER_LEARNING_RATE = 0.01
PAPER_MOMENTUM = 0.9
PAPER_WEIGHT_DECAY = 0.0005
PAPER_BATCH_SIZE = 128

# Each profile. smoke: CI, a chapter in about a minute on a 2-core CPU (the full AlexNet at 227 trains about 55
# images/s there) and still well above chance; quick: a CPU build of the site, minutes; full: the paper's recipe on
# CIFAR-10's 40,000 training images (after the 80/20 split) on a GPU. None = all the images there are.
# The short runs take a few dozen to a few hundred steps. At the paper's 0.01 the seed's BatchNormalization network
# first blows up (its loss jumps above 10) and needs epochs to recover; so they start at 0.0003, and they make
# BatchNormalization's moving averages (used at inference) follow faster than Keras's 0.99, which needs some
# hundreds of steps to forget its starting values.
PROFILE_DEFAULTS = {
    "smoke": dict(epochs=3, batch_size=32, learning_rate=0.0003, train_size=320, validation_size=96, test_size=200,
                  augment=False, plateau_patience=1, batchnorm_momentum=0.9),
    "quick": dict(epochs=5, batch_size=32, learning_rate=0.0003, train_size=1600, validation_size=320, test_size=640,
                  augment=False, plateau_patience=2, batchnorm_momentum=0.9),
    "full": dict(epochs=60, batch_size=PAPER_BATCH_SIZE, learning_rate=PAPER_LEARNING_RATE, train_size=None,
                 validation_size=None, test_size=None, augment=True, plateau_patience=3, batchnorm_momentum=0.99),
}
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
ARCHITECTURES = ("alexnet", "tiny")
VALIDATION_FRACTION = 0.2  # as the seed's train_test_split(test_size=0.2)
LR_DIVISOR = 10.0  # the paper divides by 10 ...
MAX_LR_REDUCTIONS = 3  # ... three times in all


class RunFolderError(RuntimeError):
    """The output folder holds something this run must not overwrite."""


class RunFiles:
    """The files of a run folder.

    best.keras: the model at its best validation accuracy, a full Keras model file (with optimizer state);
    load it with keras.models.load_model(path) after `import alexnet_book.layers` (custom layers).
    history.csv: one row per epoch over every session of the run; run.json: the settings and status;
    results.json and predictions.npz: the test results; backup/: the resume state, deleted once complete.
    """

    MANIFEST = "run.json"
    HISTORY = "history.csv"
    BEST_CHECKPOINT = "best.keras"
    BACKUP = "backup"
    RESULTS = "results.json"
    PREDICTIONS = "predictions.npz"
    ALL = (MANIFEST, HISTORY, BEST_CHECKPOINT, BACKUP, RESULTS, PREDICTIONS)

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.manifest = self.folder / self.MANIFEST
        self.history = self.folder / self.HISTORY
        self.best_checkpoint = self.folder / self.BEST_CHECKPOINT
        self.backup = self.folder / self.BACKUP
        self.results = self.folder / self.RESULTS
        self.predictions = self.folder / self.PREDICTIONS


def _check_positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive whole number{' or None' if allow_none else ''}, got {value!r}.")


def _check_number(name, value, low, high, low_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, got {value!r}.")
    if value < low or (low_open and value == low) or value > high:
        bound = f"{'>' if low_open else '>='} {low}"
        raise ValueError(f"{name} must be {bound} and <= {high}, got {value!r}.")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run. None means "the profile's default" (PROFILE_DEFAULTS).

    weight_decay is the paper's coupled form: an L2 penalty (weight_decay / 2) * ||w||^2 on the kernels.
    precision "auto" picks by hardware (alexnet_book.hardware.precision_policy): mixed_bfloat16 on Ampere and
    newer GPUs, mixed_float16 (with loss scaling) on older ones like Colab's T4, float32 on a CPU.
    jit_compile "auto": XLA on a GPU, off on a CPU (where it made training slower).
    deterministic "auto": the same history for the same seed on a CPU (TensorFlow's op determinism); on a GPU
    that costs speed, so it is off unless asked for.
    learning_rate: the paper's 0.01 under full; the short profiles start lower (see PROFILE_DEFAULTS).
    batchnorm_momentum: how fast BatchNormalization's moving averages (used at inference) follow the batches.
    Keras's 0.99 needs some hundreds of steps to forget its starting values; a smoke run has about 30 steps,
    so the short profiles use 0.9 (full keeps 0.99).
    architecture "tiny" is a small CNN at 32x32 for the package's own fast tests, not AlexNet.
    """

    profile: str = "auto"
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    momentum: float = PAPER_MOMENTUM
    weight_decay: float = PAPER_WEIGHT_DECAY
    seed: int = 42
    data_dir: str | None = None
    output_dir: str = "runs/training"
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
    architecture: str = "alexnet"
    verbose: int = 1

    def __post_init__(self):
        if not isinstance(self.profile, str) or self.profile.lower() not in PROFILES + ("auto",):
            raise ValueError(f"unknown profile {self.profile!r}: choose one of {', '.join(PROFILES + ('auto',))}.")
        for name in ("epochs", "batch_size", "train_size", "validation_size", "test_size", "plateau_patience"):
            _check_positive_int(name, getattr(self, name), allow_none=True)
        if self.learning_rate is not None:
            _check_number("learning_rate", self.learning_rate, 0, 10, low_open=True)
        _check_number("momentum", self.momentum, 0, 0.9999)
        _check_number("weight_decay", self.weight_decay, 0, 1)
        if self.batchnorm_momentum is not None:
            _check_number("batchnorm_momentum", self.batchnorm_momentum, 0, 1, low_open=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a whole number >= 0, got {self.seed!r}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}.")
        for name in ("jit_compile", "deterministic"):
            if getattr(self, name) not in (True, False, "auto"):
                raise ValueError(f"{name} must be True, False or 'auto', got {getattr(self, name)!r}.")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}.")
        if self.augment not in (None, True, False):
            raise ValueError(f"augment must be True, False or None (the profile's choice), got {self.augment!r}.")
        if not isinstance(self.output_dir, (str, os.PathLike)) or not str(self.output_dir).strip():
            raise ValueError(f"output_dir must name a folder, got {self.output_dir!r}.")
        if Path(self.output_dir).exists() and not Path(self.output_dir).is_dir():
            raise ValueError(f"output_dir {self.output_dir} is a file, not a folder: choose a folder for the run.")
        if self.data_dir is not None:
            if not isinstance(self.data_dir, (str, os.PathLike)) or not Path(self.data_dir).expanduser().is_dir():
                raise ValueError(
                    f"data_dir {self.data_dir!r} is not an existing folder: pass the folder that holds CIFAR-10's "
                    "data_batch_1..5 and test_batch (or its parent), or None to download it."
                )

    def resolved(self) -> "TrainConfig":
        """A copy with the profile made concrete (auto -> smoke/quick/full) and its defaults filled in."""
        from alexnet_book.profiles import resolve_profile

        profile = resolve_profile(self.profile)
        values = {name: getattr(self, name) for name in PROFILE_DEFAULTS[profile]}
        for name, default in PROFILE_DEFAULTS[profile].items():
            if values[name] is None:
                values[name] = default
        return dataclasses.replace(self, profile=profile, **values)

    def identity(self) -> dict:
        """The settings that make two runs the same run (where the folder is or how verbose it is do not)."""
        skip = {"output_dir", "overwrite", "verbose", "download", "data_dir", "jit_compile", "deterministic"}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}


@dataclass
class TrainingResult:
    """What a run leaves for the page: history, test results, timings, and where everything is."""

    config: TrainConfig
    history: dict  # column -> list, one entry per epoch, over every session of the run
    test_accuracy: float
    test_loss: float  # mean cross-entropy on the test images (without the weight penalty)
    y_true: np.ndarray
    y_pred: np.ndarray
    probabilities: np.ndarray
    test_indices: np.ndarray  # positions in the data set's test split of the images evaluated
    best_epoch: int  # counted from 1
    evaluated_weights: str
    wall_seconds: float  # this call, from loading the data to the last prediction
    training_seconds: float  # all epochs of the run, across interruptions
    images_per_second: float  # training throughput after the first (compiling) epoch of a session
    device: str
    precision: str
    jit_compile: bool
    data_source: str
    data_description: str
    train_images: int
    validation_images: int
    resumed_from_epoch: int  # 0 = started fresh
    reused: bool  # True: the folder held this finished run, nothing was trained again
    output_dir: Path
    model: object = field(default=None, repr=False)

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.output_dir) / RunFiles.BEST_CHECKPOINT

    @property
    def epochs_run(self) -> int:
        return len(self.history.get("epoch", []))

    def load_best_model(self):
        import alexnet_book.layers  # noqa: F401  (registers the custom layers for loading)

        return keras.models.load_model(self.checkpoint_path)


# --------------------------------------------------------------------------------------------------
# The run folder


def _read_history(path: Path) -> dict:
    if not path.exists() or path.stat().st_size == 0:
        return {}
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return {}
    history = {key: [] for key in rows[0]}
    for row in rows:
        for key in history:
            value = row.get(key, "")
            history[key].append(int(value) if key == "epoch" else float(value) if value not in ("", None) else math.nan)
    return history


def _truncate_history(path: Path, epochs: int) -> None:
    """Keep the log's rows of epochs 0..epochs-1 only: an epoch after the last backup is trained again."""
    if not path.exists():
        return
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return
    header, body = rows[0], [row for row in rows[1:] if row and int(row[0]) < epochs]
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([header] + body if body else [])


def _backup_epoch(files: RunFiles) -> int:
    """The epoch the last backup was taken after (0 = none)."""
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        path = files.backup / name
        if path.exists():
            try:
                return int(json.loads(path.read_text())["epoch"])
            except (ValueError, KeyError, TypeError):
                continue
    return 0


def prepare_run_folder(config: TrainConfig, data_identity: dict) -> tuple[RunFiles, str]:
    """Claim the folder for this run. Returns the files and what to do: "fresh", "resume" or "reuse"."""
    files = RunFiles(config.output_dir)
    identity = {**config.identity(), **data_identity}
    folder = files.folder
    contents = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    if contents:
        manifest = None
        if files.manifest.exists():
            try:
                manifest = json.loads(files.manifest.read_text())
            except ValueError:
                manifest = None
        same = manifest is not None and manifest.get("identity") == identity
        if same and manifest.get("status") == "complete" and files.results.exists() and files.predictions.exists():
            return files, "reuse"
        if same:
            return files, "resume"
        if not config.overwrite:
            if manifest is None:
                what = f"holds files of something else ({', '.join(contents[:5])}{'...' if len(contents) > 5 else ''})"
            else:
                old = manifest.get("identity", {})
                differences = [f"{k}: {old.get(k)!r} there, {v!r} now" for k, v in identity.items() if old.get(k) != v]
                what = "holds a run with other settings (" + "; ".join(differences[:4]) + ")"
            raise RunFolderError(
                f"The output folder {folder} {what}. Nothing was changed. Choose another output folder "
                "(output_dir / OUTPUT_DIR / --output-dir), or pass overwrite=True (--overwrite) to replace that run."
            )
        for name in RunFiles.ALL:  # overwrite removes this package's files only, never anything else there
            path = folder / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    return files, "fresh"


def _write_manifest(files: RunFiles, config: TrainConfig, data_identity: dict, status: str, extra: dict | None = None):
    manifest = {
        "identity": {**config.identity(), **data_identity},
        "status": status,
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(config).items()},
        **(extra or {}),
    }
    temporary = files.manifest.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(manifest, indent=2))
    temporary.replace(files.manifest)  # atomic: a kill never leaves half a manifest


# --------------------------------------------------------------------------------------------------
# Callbacks


class StepDownOnPlateau(keras.callbacks.Callback):
    """The paper's schedule: divide the learning rate by 10 when the validation loss has not improved for
    `patience` epochs, at most 3 times (so it ends at learning_rate / 1000). Logs each epoch's rate.

    Its state is a function of the validation losses so far, so a resumed run rebuilds it from the history
    (past_losses); Keras's ReduceLROnPlateau would start counting afresh after an interruption.
    """

    def __init__(self, patience: int, divisor: float = LR_DIVISOR, max_reductions: int = MAX_LR_REDUCTIONS,
                 min_delta: float = 1e-4, past_losses=()):
        super().__init__()
        self.patience, self.divisor = patience, divisor
        self.max_reductions, self.min_delta = max_reductions, min_delta
        self.best, self.wait, self.reductions = math.inf, 0, 0
        for loss in past_losses:
            self.update(loss)

    def update(self, loss: float) -> bool:
        """Take one epoch's validation loss; True when the rate must drop now."""
        if loss < self.best - self.min_delta:
            self.best, self.wait = loss, 0
            return False
        self.wait += 1
        if self.wait >= self.patience and self.reductions < self.max_reductions:
            self.wait, self.reductions = 0, self.reductions + 1
            return True
        return False

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        # the rate this epoch ran with, logged before any change
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        loss = logs.get("val_loss")
        if loss is not None and self.update(float(loss)):
            optimizer.learning_rate = logs["learning_rate"] / self.divisor


class EpochTimer(keras.callbacks.Callback):
    """Adds epoch_seconds (the whole epoch: training, validation and the callbacks before this one, such as saving
    checkpoints) and train_seconds (the training steps only) to each epoch's log, and warmup = 1 on the first epoch
    of a session (it includes tracing and compiling)."""

    def __init__(self):
        super().__init__()
        self.first = True

    def on_epoch_begin(self, epoch, logs=None):
        self.start = self.last_step = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.last_step = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["epoch_seconds"] = time.perf_counter() - self.start
        logs["train_seconds"] = self.last_step - self.start
        logs["warmup"] = int(self.first)
        self.first = False


# --------------------------------------------------------------------------------------------------
# Model


def build_tiny_model(num_classes: int = 10, weight_decay: float | None = None, augment: bool = False):
    """A small CNN with AlexNet's input contract (uint8 32x32x3, scaled inside), for fast tests only."""
    layers = keras.layers
    penalty = keras.regularizers.L2(weight_decay / 2) if weight_decay else None
    inputs = keras.Input((32, 32, 3), dtype="uint8")
    x = layers.Rescaling(1 / 255)(inputs)
    if augment:
        x = layers.RandomFlip("horizontal")(x)
    for index, filters in enumerate((16, 32, 64), start=1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=penalty, name=f"conv{index}")(x)
        x = layers.BatchNormalization(name=f"bn{index}")(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(num_classes, kernel_regularizer=penalty, name="fc8")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="softmax")(x)
    return keras.Model(inputs, outputs, name="tiny_cnn")


def build_model(config: TrainConfig, num_classes: int = 10):
    """The model a run trains: the seed's CIFAR-10 AlexNet (BatchNormalization, 10 classes) taking uint8 32x32
    images and resizing them to 227 inside, with the paper's coupled weight decay on its kernels."""
    if config.architecture == "tiny":
        model = build_tiny_model(num_classes, config.weight_decay or None, bool(config.augment))
    else:
        from alexnet_book.model import build_alexnet

        model = build_alexnet(
            "cifar10", num_classes=num_classes, raw_image_size=32, augment=bool(config.augment),
            weight_decay=config.weight_decay or None,
        )
    if config.batchnorm_momentum is not None:
        set_batchnorm_momentum(model, config.batchnorm_momentum)
    return model


def set_batchnorm_momentum(model, momentum: float) -> None:
    """How fast every BatchNormalization layer's moving averages follow the batches (Keras's default: 0.99)."""
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum  # read when the training step is traced: set it before fit


def compile_for_training(model, learning_rate: float, momentum: float, precision: str = "float32",
                         jit_compile="auto") -> None:
    """The recipe's optimizer and loss: SGD with momentum, sparse cross-entropy, accuracy.

    Under mixed_float16 the optimizer scales the loss, since float16 gradients underflow without it.
    """
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    if precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit_compile)


def _all_layers(layer):
    """A model's layers, and the layers of any model nested in it."""
    for inner in getattr(layer, "layers", []):
        yield inner
        yield from _all_layers(inner)


# --------------------------------------------------------------------------------------------------
# Training


def _select(config: TrainConfig, data):
    """The 80/20 split of the training images (seeded, as in the seed), then the profile's subsets."""
    from alexnet_book.data import train_validation_split

    x_train, x_val, y_train, y_val = train_validation_split(data.x_train, data.y_train, VALIDATION_FRACTION, config.seed)
    test_order = np.random.default_rng(config.seed).permutation(len(data.x_test))
    chosen = {}
    for name, available in (("train_size", len(x_train)), ("validation_size", len(x_val)), ("test_size", len(test_order))):
        wanted = getattr(config, name)
        if wanted is not None and wanted > available:
            raise ValueError(
                f"{name}={wanted} but the data has only {available} such images ({data.source}): "
                f"ask for at most {available}, or None for all of them."
            )
        chosen[name] = available if wanted is None else wanted
    test_indices = np.sort(test_order[: chosen["test_size"]])
    return (
        x_train[: chosen["train_size"]], y_train[: chosen["train_size"]],
        x_val[: chosen["validation_size"]], y_val[: chosen["validation_size"]],
        test_indices,
    )


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and the backend's generators; with deterministic, also TensorFlow's op determinism."""
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # the same seed is not enough on TensorFlow: threads may add numbers in another order
        tf.config.experimental.enable_op_determinism()


def _results_from_folder(config, files: RunFiles, wall_start: float) -> TrainingResult:
    saved = json.loads(files.results.read_text())
    arrays = np.load(files.predictions)
    saved["wall_seconds"] = time.perf_counter() - wall_start
    saved["config"] = config
    saved["output_dir"] = files.folder
    saved["reused"] = True
    saved["history"] = _read_history(files.history)
    return TrainingResult(**saved, **{k: arrays[k] for k in ("y_true", "y_pred", "probabilities", "test_indices")})


def train(config: TrainConfig | None = None, *, data=None, **settings) -> TrainingResult:
    """Train (or resume, or reuse) a run; see TrainConfig for the settings.

    train(TrainConfig(profile="smoke", output_dir="runs/x")) or train(profile="smoke", output_dir="runs/x").
    data: an alexnet_book.data.CIFAR10 already loaded (else load_cifar10 is called with the config's data_dir).
    """
    wall_start = time.perf_counter()
    if config is None:
        config = TrainConfig(**settings)
    elif settings:
        config = dataclasses.replace(config, **settings)
    config = config.resolved()
    from alexnet_book.data import load_cifar10
    from alexnet_book.hardware import gpu_available, precision_policy

    if data is None:
        data = load_cifar10(config.data_dir, profile=config.profile, download=config.download)
    x_train, y_train, x_val, y_val, test_indices = _select(config, data)
    x_test, y_test = data.x_test[test_indices], data.y_test[test_indices]
    data_identity = {"data_source": data.source, "data_images": [len(data.x_train), len(data.x_test)]}

    on_gpu = gpu_available()
    precision = precision_policy() if config.precision == "auto" else config.precision
    jit = on_gpu if config.jit_compile == "auto" else bool(config.jit_compile)
    deterministic = (not on_gpu) if config.deterministic == "auto" else bool(config.deterministic)
    config = dataclasses.replace(config, precision=precision)  # part of the identity: a run is one precision

    files, action = prepare_run_folder(config, data_identity)
    if action == "reuse":
        if config.verbose:
            print(f"{files.folder} holds this finished run: its results are loaded, nothing is trained again "
                  "(pass overwrite=True to train it again).")
        return _results_from_folder(config, files, wall_start)
    resume_epoch = _backup_epoch(files) if action == "resume" else 0
    _truncate_history(files.history, resume_epoch)
    past = _read_history(files.history)
    _write_manifest(files, config, data_identity, "running", {"data_description": data.description})

    seed_everything(config.seed, deterministic)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        model = build_model(config, num_classes=len(data.class_names))
    finally:
        keras.config.set_dtype_policy(previous_policy)  # the policy stays with the model's layers, not the session
    compile_for_training(model, config.learning_rate, config.momentum, precision, jit_compile=jit)

    best_so_far = max(past.get("val_accuracy", []), default=None)
    callbacks = [
        StepDownOnPlateau(config.plateau_patience, past_losses=past.get("val_loss", [])),
        keras.callbacks.ModelCheckpoint(
            str(files.best_checkpoint), monitor="val_accuracy", mode="max", save_best_only=True,
            initial_value_threshold=best_so_far,
        ),
        # weights, optimizer state (momentum, learning rate) and the epoch, after every epoch; kept until the
        # results are written, so that a run killed at any moment can go on
        keras.callbacks.BackupAndRestore(str(files.backup), double_checkpoint=True, delete_checkpoint=False),
        EpochTimer(),  # after the savers: an epoch's seconds include writing its checkpoints
        keras.callbacks.CSVLogger(str(files.history), append=True),  # last: a logged epoch is a backed-up epoch
    ]
    if config.verbose and resume_epoch:
        print(f"Resuming the run in {files.folder} after epoch {resume_epoch} of {config.epochs}.")
    model.fit(
        x_train, y_train, batch_size=config.batch_size, epochs=config.epochs, validation_data=(x_val, y_val),
        shuffle=True, callbacks=callbacks, verbose=config.verbose,
    )

    history = _read_history(files.history)
    best_epoch = int(np.argmax(history["val_accuracy"])) + 1 if history.get("val_accuracy") else config.epochs
    if files.best_checkpoint.exists():
        model.load_weights(str(files.best_checkpoint))
        evaluated = f"best validation accuracy (epoch {best_epoch})"
    else:
        evaluated = "last epoch"
    probabilities = model.predict(x_test, batch_size=max(config.batch_size, 64), verbose=0).astype(np.float32)
    y_pred = probabilities.argmax(axis=1)
    test_accuracy = float(np.mean(y_pred == y_test))
    test_loss = float(-np.mean(np.log(np.clip(probabilities[np.arange(len(y_test)), y_test], 1e-12, 1.0))))

    steady = [i for i, w in enumerate(history.get("warmup", [])) if not w]
    timed = steady or list(range(len(history.get("train_seconds", []))))
    train_time = sum(history["train_seconds"][i] for i in timed) if timed else math.nan
    images_per_second = len(x_train) * len(timed) / train_time if timed and train_time > 0 else math.nan
    summary = dict(
        test_accuracy=test_accuracy, test_loss=test_loss, best_epoch=best_epoch, evaluated_weights=evaluated,
        training_seconds=float(sum(history.get("epoch_seconds", []))), images_per_second=images_per_second,
        device=describe_device(), precision=precision, jit_compile=jit, data_source=data.source,
        data_description=data.description, train_images=len(x_train), validation_images=len(x_val),
        resumed_from_epoch=resume_epoch,
    )
    np.savez_compressed(files.predictions, y_true=y_test, y_pred=y_pred, probabilities=probabilities,
                        test_indices=test_indices)
    wall_seconds = time.perf_counter() - wall_start
    files.results.write_text(json.dumps({**summary, "wall_seconds": wall_seconds}, indent=2))
    _write_manifest(files, config, data_identity, "complete", {"data_description": data.description})
    shutil.rmtree(files.backup, ignore_errors=True)  # the run is complete: best.keras and the log remain
    return TrainingResult(
        config=config, history=history, y_true=y_test, y_pred=y_pred, probabilities=probabilities,
        test_indices=test_indices, wall_seconds=wall_seconds, reused=False, output_dir=files.folder, model=model,
        **summary,
    )


# --------------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m alexnet_book.train",
        description="Train AlexNet on CIFAR-10 with the paper's recipe (the book's training chapter, from a shell). "
        "Interrupted, run the same command again to resume.",
    )

    def flag(name, **kwargs):
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, **kwargs)

    flag("profile", default="auto", choices=PROFILES + ("auto",), help="size of the run (default: auto)")
    flag("epochs", type=int, help="epochs (default: the profile's)")
    flag("batch_size", type=int, help="images per step (default: the profile's; full: 128 as the paper)")
    flag("learning_rate", type=float, help="initial learning rate (default: the profile's; full: 0.01 as the paper)")
    flag("momentum", type=float, default=0.9, help="SGD momentum (default: 0.9)")
    flag("weight_decay", type=float, default=0.0005, help="coupled weight decay, an L2 penalty wd/2*|w|^2 (default: 0.0005)")
    flag("seed", type=int, default=42, help="random seed (default: 42)")
    flag("data_dir", help="folder with CIFAR-10's python batches (default: $ALEXNET_BOOK_CIFAR10_DIR, else download)")
    flag("output_dir", default="runs/training", help="folder of the run (default: runs/training)")
    flag("train_size", type=int, help="training images (default: the profile's)")
    flag("validation_size", type=int, help="validation images (default: the profile's)")
    flag("test_size", type=int, help="test images (default: the profile's)")
    flag("augment", action=argparse.BooleanOptionalAction, default=None, help="random translation and flips")
    flag("plateau_patience", type=int, help="epochs without a better validation loss before the rate drops")
    flag("batchnorm_momentum", type=float, help="momentum of BatchNormalization's moving averages (default: the profile's)")
    flag("precision", default="auto", choices=PRECISIONS, help="dtype policy (default: auto, by hardware)")
    flag("jit_compile", default="auto", choices=("auto", "on", "off"), help="XLA (default: auto, on with a GPU)")
    flag("deterministic", default="auto", choices=("auto", "on", "off"), help="reproducible ops (default: on a CPU)")
    flag("no_download", action="store_true", help="never download; smoke/quick fall back to the stand-in")
    flag("overwrite", action="store_true", help="replace another run in the output folder")
    flag("architecture", default="alexnet", choices=ARCHITECTURES, help=argparse.SUPPRESS)  # tests only
    flag("quiet", action="store_true", help="no progress bar")
    return parser


def config_from_args(argv=None) -> TrainConfig:
    parser = _parser()
    args = vars(parser.parse_args(argv))
    switch = {"auto": "auto", "on": True, "off": False}
    args["jit_compile"] = switch[args["jit_compile"]]
    args["deterministic"] = switch[args["deterministic"]]
    args["download"] = not args.pop("no_download")
    args["verbose"] = 0 if args.pop("quiet") else 1
    try:
        return TrainConfig(**args)
    except ValueError as error:
        parser.error(str(error))


def main(argv=None) -> int:
    from alexnet_book.data import CIFAR10Error

    config = config_from_args(argv)
    try:
        result = train(config)
    except (ValueError, CIFAR10Error, RunFolderError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"profile {result.config.profile} | {result.data_source} data | {result.device} | {result.precision} | "
        f"{result.epochs_run} epochs | test accuracy {result.test_accuracy:.1%} ({len(result.y_true)} images) | "
        f"{result.images_per_second:,.0f} training images/s | run folder {result.output_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
