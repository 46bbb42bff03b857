"""Training AlexNet on CIFAR-10 the paper's way: the code the training chapter and the command line share.

The recipe (Krizhevsky et al. 2012, section 5): SGD with momentum 0.9, batch 128, learning rate 0.01 divided by 10
when the validation error stops improving (at most 3 times), weight decay 0.0005. The paper's weight decay sits
inside the momentum update (v <- 0.9 v - 0.0005 eps w - eps dL/dw), which is an L2 penalty (0.0005 / 2) ||w||^2
added to the loss: "coupled" weight decay. Keras's `SGD(weight_decay=...)` is the decoupled kind (it shrinks the
weights outside the gradient), so the book puts the penalty on the kernels instead (build_alexnet(weight_decay=...)).

A run writes into its own folder (see RunFiles) and can be interrupted at any time: started again with the same
settings, it resumes after the last committed epoch (EpochCommit) and keeps one history for all epochs. A folder
that holds another run is never overwritten unless overwrite=True is passed.

Command line: python -m alexnet_book.train --profile smoke (or alexnet-book-train); the run's folder is
runs/training-<profile>-<digest of its settings> unless --output-dir names another.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
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

import keras
import numpy as np

from alexnet_book.checks import check_positive_int
from alexnet_book.data import training_subsets
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
# full: patience 3 because with 10,000 validation images an epoch or two without a new low of the error happen by
# chance while the network still improves, three in a row rarely; 60 epochs leave room for the three drops (each
# needs at least `patience` epochs without a new low) and for epochs at the last rate. A choice, not yet measured
# on CIFAR-10: chapter 6 shows where the drops fell in the run that built it.
PROFILE_DEFAULTS = {
    "smoke": dict(
        epochs=3,
        batch_size=32,
        learning_rate=0.0003,
        train_size=320,
        validation_size=96,
        test_size=200,
        augment=False,
        plateau_patience=1,
        batchnorm_momentum=0.9,
    ),
    "quick": dict(
        epochs=5,
        batch_size=32,
        learning_rate=0.0003,
        train_size=1600,
        validation_size=320,
        test_size=640,
        augment=False,
        plateau_patience=2,
        batchnorm_momentum=0.9,
    ),
    "full": dict(
        epochs=60,
        batch_size=PAPER_BATCH_SIZE,
        learning_rate=PAPER_LEARNING_RATE,
        train_size=None,
        validation_size=None,
        test_size=None,
        augment=True,
        plateau_patience=3,
        batchnorm_momentum=0.99,
    ),
}
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
LR_DIVISOR = 10.0  # the paper divides by 10 ...
MAX_LR_REDUCTIONS = 3  # ... three times in all
# of the run folder; a folder of another format is another run (2: EpochCommit's backup/; 3: the seed's split)
RUN_FORMAT = 3


class RunFolderError(RuntimeError):
    """The output folder holds something this run must not overwrite."""


class RunFiles:
    """The files of a run folder.

    run.json: the settings, the status ("running" or "complete") and what was in force (precision, XLA);
    history.csv: one row per epoch over every session of the run;
    backup/: while the run is going, its last committed epoch (see EpochCommit), deleted once complete;
    best.keras: the model at its best validation error, a full Keras model file, written when the run completes;
    load it with keras.models.load_model(path) after `import alexnet_book.layers` (custom layers);
    results.json and predictions.npz: the test results.
    """

    MANIFEST = "run.json"
    HISTORY = "history.csv"
    BEST_CHECKPOINT = "best.keras"
    BACKUP = "backup"
    BACKUP_STATE = "state.json"
    RESULTS = "results.json"
    PREDICTIONS = "predictions.npz"
    ALL = (MANIFEST, HISTORY, BEST_CHECKPOINT, BACKUP, RESULTS, PREDICTIONS)

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.manifest = self.folder / self.MANIFEST
        self.history = self.folder / self.HISTORY
        self.best_checkpoint = self.folder / self.BEST_CHECKPOINT
        self.backup = self.folder / self.BACKUP
        self.backup_state = self.backup / self.BACKUP_STATE
        self.results = self.folder / self.RESULTS
        self.predictions = self.folder / self.PREDICTIONS


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
    newer GPUs, mixed_float16 (with loss scaling) on Volta and Turing ones like Colab's T4, float32 on older GPUs
    (no tensor cores) and on a CPU. The run records the policy in force in the model, not this setting.
    jit_compile "auto": XLA on a GPU; on a CPU only with the JAX backend (TensorFlow trained slower with it there,
    JAX without it runs every operation separately), as Keras's own "auto".
    deterministic "auto": the same history for the same seed on a CPU without XLA (TensorFlow's op determinism,
    which also switches XLA off); on a GPU that costs speed, so it is off unless asked for.
    learning_rate: the paper's 0.01 under full; the short profiles start lower (see PROFILE_DEFAULTS).
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
        if self.augment not in (None, True, False):
            raise ValueError(f"augment must be True, False or None (the profile's choice), got {self.augment!r}.")
        if self.output_dir is not None and (
            not isinstance(self.output_dir, (str, os.PathLike)) or not str(self.output_dir).strip()
        ):
            raise ValueError(f"output_dir must name a folder (or None for the run's own), got {self.output_dir!r}.")
        if self.output_dir is not None and Path(self.output_dir).exists() and not Path(self.output_dir).is_dir():
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
        settings = {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}
        return {"run_format": RUN_FORMAT, **settings}


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
    precision: str  # the dtype policy in force in the model's layers (in_force), not the one asked for
    jit_compile: bool  # model.jit_compile after compile: whether XLA really compiled the steps
    loss_scaling: bool  # whether the optimizer scaled the loss (mixed_float16)
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


def _write_atomically(path: Path, text: str) -> None:
    """Write a file so that a kill at any moment leaves either the old or the new content, never half."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def _read_history(path: Path) -> dict:
    if not path.exists() or path.stat().st_size == 0:
        return {}
    with open(path, newline="") as handle:
        return _history_columns(list(csv.DictReader(handle)))


def _history_columns(rows: list[dict]) -> dict:
    """Rows (one dict per epoch) as columns (one list per name), the form TrainingResult.history has."""
    if not rows:
        return {}
    history = {key: [] for key in rows[0]}
    for row in rows:
        for key in history:
            value = row.get(key, "")
            history[key].append(int(value) if key == "epoch" else float(value) if value not in ("", None) else math.nan)
    return history


def _write_history(path: Path, rows: list[dict]) -> None:
    """history.csv, the reader's view of the committed rows (backup/state.json holds the same rows)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = [",".join(columns)] + [",".join(str(row.get(key, "")) for key in columns) for row in rows]
    _write_atomically(path, "\n".join(lines) + "\n" if rows else "")


def read_backup(files: RunFiles) -> dict | None:
    """The last committed epoch of an unfinished run (None: no epoch was committed yet).

    Raises RunFolderError where the folder contradicts itself (a state that names missing files, or a history
    that does not have one row per committed epoch): nothing is changed then, a person has to look.
    """
    if not files.backup_state.exists():
        return None
    fix = (
        f"Nothing was changed. Move the folder {files.folder} aside and start the run again, or pass "
        "overwrite=True (--overwrite) to replace it."
    )
    try:
        state = json.loads(files.backup_state.read_text())
        epochs, rows = int(state["epochs_done"]), list(state["history"])
        named = dict.fromkeys([files.backup / state["latest_weights"], files.backup / state["best_weights"]])
    except (ValueError, KeyError, TypeError) as error:
        raise RunFolderError(f"{files.backup_state} is not a backup this package wrote ({error!r}). {fix}") from None
    missing = [path.name for path in named if not path.exists()]
    if missing:
        raise RunFolderError(f"{files.backup_state} names {', '.join(missing)}, which is missing. {fix}")
    if [row.get("epoch") for row in rows] != list(range(epochs)):
        raise RunFolderError(
            f"{files.backup_state} records {epochs} epochs but its history does not have one row for each. {fix}"
        )
    return state


def default_run_folder(config: TrainConfig, data_identity: dict) -> Path:
    """runs/training-<profile>-<8 hex digits of the run's settings and data>: a run with other settings gets
    another folder, so that none replaces another, and the same settings find their run again (to resume it,
    or to reuse it finished). Relative to the working directory (a notebook's own folder)."""
    identity = json.dumps({**config.identity(), **data_identity}, sort_keys=True)
    return Path("runs") / f"training-{config.profile}-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"


def prepare_run_folder(config: TrainConfig, data_identity: dict) -> tuple[RunFiles, str]:
    """Claim the folder for this run. Returns the files and what to do: "fresh", "resume", "evaluate" (the run
    is trained but its test results are gone) or "reuse" (the finished run: nothing to do)."""
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
        if same and manifest.get("status") == "complete":
            if files.results.exists() and files.predictions.exists():
                return files, "reuse"
            if files.best_checkpoint.exists() and files.history.exists():
                return files, "evaluate"
            if not config.overwrite:
                raise RunFolderError(
                    f"The output folder {folder} holds a finished run whose best.keras or history.csv is missing, "
                    "so its results cannot be rebuilt. Nothing was changed. Pass overwrite=True (--overwrite) to "
                    "train it again, or choose another output folder."
                )
        elif same:
            try:
                read_backup(files)  # refuses a folder that contradicts itself before anything is written
                return files, "resume"
            except RunFolderError:
                if not config.overwrite:
                    raise
        elif not config.overwrite:
            if manifest is None:
                what = f"holds files of something else ({', '.join(contents[:5])}{'...' if len(contents) > 5 else ''})"
            else:
                old = manifest.get("identity", {})
                differences = [
                    f"{k}: {old.get(k)!r} there, {identity.get(k)!r} now"
                    for k in dict.fromkeys([*identity, *old])
                    if old.get(k) != identity.get(k)
                ]
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
    _write_atomically(files.manifest, json.dumps(manifest, indent=2))


# --------------------------------------------------------------------------------------------------
# Callbacks


class StepDownOnPlateau(keras.callbacks.Callback):
    """The paper's schedule: divide the learning rate by 10 "when the validation error rate stopped improving",
    here when it has not reached a new low for `patience` epochs, at most 3 times (so it ends at
    learning_rate / 1000). Logs each epoch's rate.

    It watches the validation error (1 - val_accuracy), not val_loss: in Keras 3 val_loss includes the weight
    penalty, which the decay shrinks every epoch, so val_loss keeps "improving" while the error stands still.
    Its state is a function of the validation errors so far, so a resumed run rebuilds it from the history
    (past_errors); Keras's ReduceLROnPlateau would start counting afresh after an interruption.
    """

    def __init__(
        self, patience: int, divisor: float = LR_DIVISOR, max_reductions: int = MAX_LR_REDUCTIONS, past_errors=()
    ):
        super().__init__()
        self.patience, self.divisor, self.max_reductions = patience, divisor, max_reductions
        self.best, self.wait, self.reductions = math.inf, 0, 0
        for error in past_errors:
            self.update(error)

    def update(self, error: float) -> bool:
        """Take one epoch's validation error; True when the rate must drop now."""
        if error < self.best:
            self.best, self.wait = error, 0
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
        if "val_accuracy" in logs and self.update(1.0 - float(logs["val_accuracy"])):
            optimizer.learning_rate = logs["learning_rate"] / self.divisor


class EpochTimer(keras.callbacks.Callback):
    """Adds epoch_seconds (training and validation), train_seconds (the training steps only) and warmup (1 on
    the first epoch of a session, which includes tracing and compiling) to each epoch's log.

    It waits for the last training step once per epoch, when validation begins, and never per step: a callback
    with a per-batch hook makes Keras wait for every step, which a fast GPU notices.
    """

    def __init__(self):
        super().__init__()
        self.first = True

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.train_end = time.perf_counter(), None

    def on_test_begin(self, logs=None):
        if self.train_end is None:  # validation inside fit (an evaluate() outside fit has no epoch)
            keras.ops.convert_to_numpy(self.model.optimizer.iterations)  # the last step has finished
            self.train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        now = time.perf_counter()
        logs["epoch_seconds"] = now - self.start
        logs["train_seconds"] = (self.train_end or now) - self.start
        logs["warmup"] = int(self.first)
        self.first = False


class EpochCommit(keras.callbacks.Callback):
    """Makes every finished epoch durable, in one step that a kill cannot split.

    After each epoch: the weights (with the optimizer's momentum, step count and learning rate) go to a new
    file backup/epoch-N.weights.h5; then backup/state.json is replaced in one atomic rename. That rename is the
    commit: the state names the latest and the best weights and holds the history rows. history.csv is written
    from it afterwards, as a view. A kill before the rename leaves the previous commit whole (the new weights
    file is ignored and removed on resume); a kill after it loses nothing. The best weights are those of the
    lowest validation error so far (the first such epoch).
    """

    def __init__(self, files: RunFiles, state: dict | None = None):
        super().__init__()
        self.files = files
        state = state or {}
        self.rows = list(state.get("history", []))
        self.best_weights = state.get("best_weights")
        self.best_error = min((1.0 - row["val_accuracy"] for row in self.rows), default=math.inf)

    def on_epoch_end(self, epoch, logs=None):
        started = time.perf_counter()
        self.files.backup.mkdir(parents=True, exist_ok=True)
        latest = f"epoch-{epoch + 1}.weights.h5"
        self.model.save_weights(str(self.files.backup / latest), overwrite=True)
        row = {"epoch": epoch, **{key: float(value) for key, value in (logs or {}).items()}}
        error = 1.0 - row.get("val_accuracy", 0.0)
        if error < self.best_error:
            self.best_error, self.best_weights = error, latest
        row["checkpoint_seconds"] = time.perf_counter() - started
        self.rows.append(row)
        self.commit(
            {
                "epochs_done": epoch + 1,
                "latest_weights": latest,
                "best_weights": self.best_weights,
                "history": self.rows,
            }
        )
        _write_history(self.files.history, self.rows)
        remove_unreferenced_weights(self.files, {latest, self.best_weights})

    def commit(self, state: dict) -> None:
        _write_atomically(self.files.backup_state, json.dumps(state))


def remove_unreferenced_weights(files: RunFiles, keep: set) -> None:
    """Delete backup weight files that the committed state does not name (superseded, or never committed)."""
    for path in files.backup.glob("*.weights.h5"):
        if path.name not in keep:
            path.unlink()


# --------------------------------------------------------------------------------------------------
# Model


def build_training_model(config: TrainConfig, num_classes: int = 10):
    """The model a run trains: the seed's CIFAR-10 AlexNet (BatchNormalization, 10 classes) taking uint8 32x32
    images and resizing them to 227 inside, with the paper's coupled weight decay on its kernels."""
    from alexnet_book.model import build_alexnet

    model = build_alexnet(
        "cifar10",
        num_classes=num_classes,
        raw_image_size=32,
        augment=bool(config.augment),
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


def compile_for_training(
    model, learning_rate: float, momentum: float, precision: str = "float32", jit_compile="auto"
) -> None:
    """The recipe's optimizer and loss: SGD with momentum, sparse cross-entropy, accuracy, and the
    cross-entropy alone as a metric (the loss Keras reports also holds the weight penalty).

    Under mixed_float16 the optimizer scales the loss, since float16 gradients underflow without it.
    Ask in_force(model) afterwards what really runs: Keras can switch XLA off with only a warning.
    """
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    if precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    metrics = ["accuracy", keras.metrics.SparseCategoricalCrossentropy(name="cross_entropy")]
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=metrics, jit_compile=jit_compile)


def in_force(model) -> dict:
    """What a compiled model really runs with, never what was asked for: the dtype policy of its layers with
    weights, whether XLA compiles its steps (model.jit_compile) and whether the loss is scaled."""
    policies = sorted({layer.dtype_policy.name for layer in _all_layers(model) if layer.weights})
    return {
        "precision": "+".join(policies),
        "jit_compile": bool(model.jit_compile),
        "loss_scaling": isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer),
    }


def _all_layers(layer):
    """A model's layers, and the layers of any model nested in it."""
    for inner in getattr(layer, "layers", []):
        yield inner
        yield from _all_layers(inner)


# --------------------------------------------------------------------------------------------------
# Training


def _select(config: TrainConfig, data):
    """The 80/20 split of the training images (seeded, as in the seed) and the profile's subsets of it and of
    the test images (a seeded choice, in their original order)."""
    if config.test_size is not None and config.test_size > len(data.x_test):
        raise ValueError(
            f"test_size={config.test_size} but the {data.source} data has only {len(data.x_test)} test images: "
            f"ask for at most {len(data.x_test)}, or None for all of them."
        )
    subsets = training_subsets(data, config.train_size, config.validation_size, config.seed)
    test_order = np.random.default_rng(config.seed).permutation(len(data.x_test))
    return (*subsets, np.sort(test_order[: config.test_size or len(test_order)]))


def seed_everything(seed: int, deterministic: bool | None = None) -> None:
    """Seed Python, NumPy and the backend's generators; with deterministic (None: where there is no GPU), also
    TensorFlow's op determinism: the same seed is not enough there, threads may add numbers in another order."""
    if deterministic is None:
        from alexnet_book.hardware import gpu_available

        deterministic = not gpu_available()
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


class TrainingOutOfMemory(RuntimeError):
    """The device ran out of memory; the message says what a batch costs and what to change."""


def _is_out_of_memory(error: BaseException) -> bool:
    # TensorFlow: ResourceExhaustedError; JAX/XLA: "RESOURCE_EXHAUSTED: Out of memory ..."; PyTorch: OutOfMemoryError
    text = f"{type(error).__name__}: {error}"
    return (
        any(sign in text for sign in ("ResourceExhausted", "RESOURCE_EXHAUSTED", "OutOfMemoryError"))
        or "out of memory" in text.lower()
    )


def training_memory(model, batch_size: int) -> dict:
    """Rough bytes a training step needs: every layer's output for a batch (kept for the backward pass), and
    the weights, their gradients and the momentum in float32."""
    bytes_per_value = {"float16": 2, "bfloat16": 2}.get(model.get_layer(index=-2).compute_dtype, 4)
    values_per_image = sum(math.prod(layer.output.shape[1:]) for layer in model.layers[1:])
    return {
        "activations": batch_size * values_per_image * bytes_per_value,
        "weights_gradients_momentum": 3 * 4 * model.count_params(),
    }


@contextlib.contextmanager
def explain_out_of_memory(model, config: TrainConfig, device: str):
    """Turn a backend's out-of-memory error into TrainingOutOfMemory with a message that says what to do."""
    try:
        yield
    except Exception as error:
        if not _is_out_of_memory(error):
            raise
        need = training_memory(model, config.batch_size)
        smaller = max(config.batch_size // 2, 1)
        raise TrainingOutOfMemory(
            f"Training ran out of memory on {device} with batches of {config.batch_size}. At this precision the "
            f"layer outputs of one batch take about {need['activations'] / 1e6:,.0f} MB and the weights, their "
            f"gradients and the momentum about {need['weights_gradients_momentum'] / 1e6:,.0f} MB. Train with a "
            f"smaller batch (batch_size={smaller} / --batch-size {smaller}; the first figure halves with it) in "
            f"another output folder, or free the device (other notebooks, processes). The epochs already "
            f"finished in {config.output_dir} are kept. The backend said: {str(error).splitlines()[0][:300]}"
        ) from None


def _settings(config: TrainConfig | None, settings: dict) -> TrainConfig:
    if config is None:
        config = TrainConfig(**settings)
    elif settings:
        config = dataclasses.replace(config, **settings)
    return config.resolved()


def _build_and_compile(config: TrainConfig, num_classes: int, precision: str, jit: bool):
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        model = build_training_model(config, num_classes=num_classes)
    finally:
        keras.config.set_dtype_policy(previous_policy)  # the policy stays with the model's layers, not the session
    compile_for_training(model, config.learning_rate, config.momentum, precision, jit_compile=jit)
    return model


def _restore(model, files: RunFiles, state: dict) -> None:
    """Load the committed epoch's weights and optimizer state (momentum, step count, learning rate)."""
    model.optimizer.build(model.trainable_variables)  # its variables must exist to be loaded into
    model.load_weights(str(files.backup / state["latest_weights"]))


def throughput(history: dict, train_images: int) -> float:
    """Training images per second over the epochs after a session's first (tracing and compiling happen there),
    from EpochTimer's columns; over all epochs, compile included, when there is no other."""
    steady = [i for i, warmup in enumerate(history.get("warmup", [])) if not warmup]
    timed = steady or list(range(len(history.get("train_seconds", []))))
    seconds = sum(history["train_seconds"][i] for i in timed)
    return train_images * len(timed) / seconds if timed and seconds > 0 else math.nan


def _evaluate_and_record(config, files, model, history, x_test, y_test, test_indices, summary) -> TrainingResult:
    """Test the best weights, then write predictions, results and the finished best.keras; mark the run complete."""
    best_epoch = int(np.argmax(history["val_accuracy"])) + 1 if history.get("val_accuracy") else config.epochs
    probabilities = model.predict(x_test, batch_size=max(config.batch_size, 64), verbose=0).astype(np.float32)
    y_pred = probabilities.argmax(axis=1)
    summary = dict(
        summary,
        test_accuracy=float(np.mean(y_pred == y_test)),
        test_loss=float(-np.mean(np.log(np.clip(probabilities[np.arange(len(y_test)), y_test], 1e-12, 1.0)))),
        best_epoch=best_epoch,
        evaluated_weights=f"best validation error (epoch {best_epoch})",
        training_seconds=float(sum(history.get("epoch_seconds", []))),
        images_per_second=throughput(history, summary["train_images"]),
    )
    np.savez_compressed(
        files.predictions, y_true=y_test, y_pred=y_pred, probabilities=probabilities, test_indices=test_indices
    )
    files.results.write_text(json.dumps(summary, indent=2))
    return TrainingResult(
        config=config,
        history=history,
        y_true=y_test,
        y_pred=y_pred,
        probabilities=probabilities,
        test_indices=test_indices,
        reused=False,
        output_dir=files.folder,
        model=model,
        wall_seconds=math.nan,
        **summary,
    )


def _results_from_folder(config, files: RunFiles) -> TrainingResult:
    saved = json.loads(files.results.read_text())
    arrays = np.load(files.predictions)
    return TrainingResult(
        config=config,
        history=_read_history(files.history),
        reused=True,
        output_dir=files.folder,
        wall_seconds=math.nan,
        **saved,
        **{k: arrays[k] for k in ("y_true", "y_pred", "probabilities", "test_indices")},
    )


def train(config: TrainConfig | None = None, *, data=None, **settings) -> TrainingResult:
    """Train (or resume, or reuse) a run; see TrainConfig for the settings.

    train(TrainConfig(profile="smoke", output_dir="runs/x")) or train(profile="smoke", output_dir="runs/x").
    data: an alexnet_book.data.CIFAR10 already loaded (else load_cifar10 is called with the config's data_dir).
    The steps: load and split the data; claim the run folder; build and compile the model (restoring the last
    committed epoch of an interrupted run); fit with the schedule and the per-epoch commit; test the best
    weights; write the results.
    """
    wall_start = time.perf_counter()
    config = _settings(config, settings)
    from alexnet_book.data import load_cifar10
    from alexnet_book.hardware import gpu_available, precision_policy

    if data is None:
        data = load_cifar10(config.data_dir, profile=config.profile, download=config.download)
    x_train, y_train, x_val, y_val, test_indices = _select(config, data)
    x_test, y_test = data.x_test[test_indices], data.y_test[test_indices]
    data_identity = {"data_source": data.source, "data_images": [len(data.x_train), len(data.x_test)]}

    on_gpu = gpu_available()
    precision = precision_policy() if config.precision == "auto" else config.precision
    # XLA: on a GPU; on a CPU only under JAX, whose steps run op by op without it (TensorFlow's are faster without)
    jit = (on_gpu or keras.backend.backend() == "jax") if config.jit_compile == "auto" else bool(config.jit_compile)
    # TensorFlow's op determinism switches XLA off, so "auto" gives it only to CPU runs without XLA
    deterministic = (not on_gpu and not jit) if config.deterministic == "auto" else bool(config.deterministic)
    config = dataclasses.replace(config, precision=precision)  # part of the identity: a run is one precision
    if config.output_dir is None:
        config = dataclasses.replace(config, output_dir=str(default_run_folder(config, data_identity)))

    files, action = prepare_run_folder(config, data_identity)
    if action == "reuse":
        if config.verbose:
            print(
                f"{files.folder} holds this finished run: its results are loaded, nothing is trained again "
                "(to train it again, choose another output folder, or move this one aside)."
            )
        return dataclasses.replace(_results_from_folder(config, files), wall_seconds=time.perf_counter() - wall_start)
    device = describe_device()
    summary = dict(
        device=device,
        data_source=data.source,
        data_description=data.description,
        train_images=len(x_train),
        validation_images=len(x_val),
    )
    if action == "evaluate":  # trained and complete, but its test results were deleted: test again, train nothing
        import alexnet_book.layers  # noqa: F401  (registers the custom layers for loading)

        manifest = json.loads(files.manifest.read_text())
        model = keras.models.load_model(files.best_checkpoint)
        summary.update(manifest["in_force"], resumed_from_epoch=manifest["resumed_from_epoch"])
        result = _evaluate_and_record(
            config, files, model, _read_history(files.history), x_test, y_test, test_indices, summary
        )
        return dataclasses.replace(result, wall_seconds=time.perf_counter() - wall_start)

    state = read_backup(files) if action == "resume" else None
    resume_epoch = state["epochs_done"] if state else 0
    seed_everything(config.seed, deterministic)
    model = _build_and_compile(config, len(data.class_names), precision, jit)
    if state:
        _restore(model, files, state)
        _write_history(files.history, state["history"])  # the committed rows, whatever the view said
    remove_unreferenced_weights(files, {state["latest_weights"], state["best_weights"]} if state else set())
    summary.update(in_force(model), resumed_from_epoch=resume_epoch)
    extra = {"data_description": data.description, "in_force": in_force(model), "resumed_from_epoch": resume_epoch}
    _write_manifest(files, config, data_identity, "running", extra)

    past_errors = [1.0 - row["val_accuracy"] for row in (state or {}).get("history", [])]
    commit = EpochCommit(files, state)
    callbacks = [EpochTimer(), StepDownOnPlateau(config.plateau_patience, past_errors=past_errors), commit]
    if config.verbose and resume_epoch:
        print(f"Resuming the run in {files.folder} after epoch {resume_epoch} of {config.epochs}.")
    with explain_out_of_memory(model, config, device):
        model.fit(
            x_train,
            y_train,
            batch_size=config.batch_size,
            epochs=config.epochs,
            initial_epoch=resume_epoch,
            validation_data=(x_val, y_val),
            shuffle=True,
            callbacks=callbacks,
            verbose=config.verbose,
        )
        model.load_weights(str(files.backup / commit.best_weights))
        history = _history_columns(commit.rows)
        result = _evaluate_and_record(config, files, model, history, x_test, y_test, test_indices, summary)
    model.save(str(files.best_checkpoint))
    _write_manifest(files, config, data_identity, "complete", extra)
    shutil.rmtree(files.backup, ignore_errors=True)  # the run is complete: best.keras and the history remain
    return dataclasses.replace(result, wall_seconds=time.perf_counter() - wall_start)


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
    flag("momentum", type=float, default=PAPER_MOMENTUM, help=f"SGD momentum (default: {PAPER_MOMENTUM})")
    flag(
        "weight_decay",
        type=float,
        default=PAPER_WEIGHT_DECAY,
        help=f"coupled weight decay, an L2 penalty wd/2*|w|^2 (default: {PAPER_WEIGHT_DECAY})",
    )
    flag("seed", type=int, default=TrainConfig.seed, help=f"random seed (default: {TrainConfig.seed})")
    flag("data_dir", help="folder with CIFAR-10's python batches (default: $ALEXNET_BOOK_CIFAR10_DIR, else download)")
    flag("output_dir", help="folder of the run (default: runs/training-<profile>-<digest of the settings>)")
    flag("train_size", type=int, help="training images (default: the profile's)")
    flag("validation_size", type=int, help="validation images (default: the profile's)")
    flag("test_size", type=int, help="test images (default: the profile's)")
    flag("augment", action=argparse.BooleanOptionalAction, default=None, help="random shifts and flips")
    flag("plateau_patience", type=int, help="epochs without a lower validation error before the rate drops")
    flag(
        "batchnorm_momentum",
        type=float,
        help="momentum of BatchNormalization's moving averages (default: the profile's)",
    )
    flag("precision", default="auto", choices=PRECISIONS, help="dtype policy (default: auto, by hardware)")
    flag("jit_compile", default="auto", choices=("auto", "on", "off"), help="XLA (default: auto, on with a GPU)")
    flag("deterministic", default="auto", choices=("auto", "on", "off"), help="reproducible ops (default: on a CPU)")
    flag("no_download", action="store_true", help="never download; smoke/quick fall back to the stand-in")
    flag("overwrite", action="store_true", help="replace another run in the output folder")
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
    except (ValueError, CIFAR10Error, RunFolderError, TrainingOutOfMemory) as error:
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
