"""A run folder: the files a training run writes, the commit that makes a kill lose nothing, the lock that keeps
one process per folder, and what a folder's contents let a new run do there.

The commit: after every epoch the weights (with the optimizer's state) go to a new file backup/epoch-N.weights.h5,
then backup/state.json is replaced in one atomic rename. That rename is the commit: the state names the run, the
latest and the best weights, and holds the history rows. history.csv is written from it afterwards, as a view. A
kill before the rename leaves the previous commit whole (the new weights file is ignored and removed on resume);
a kill after it loses nothing.

A folder is never changed by a run it does not belong to: prepare_run_folder refuses, touching nothing, a folder
that holds another run, other files, or committed epochs that it could not continue from. Keras is not imported
here, so that alexnet_book.train can import this module and still answer --help without loading Keras.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import json
import math
import os
import shutil
import socket
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

# of the run folder, part of a run's identity: it changes when the same settings would train differently or the
# files change shape, so that a folder of another format is never resumed as this run
RUN_FORMAT = 4


class RunFolderError(RuntimeError):
    """The output folder holds something this run must not overwrite, or cannot be written."""


class RunFiles:
    """The files of a run folder.

    run.json: the run's identity, its status ("running" or "complete") and what was in force (Manifest);
    history.csv: one row per epoch over every session of the run;
    backup/: while the run is going, its last committed epoch (see commit_backup), deleted once complete;
    best.keras: the model at its best validation error, a full Keras model file, written when the run completes;
    load it with keras.models.load_model(path) after `import alexnet_book.layers` (custom layers);
    results.json (RunSummary) and predictions.npz: the test results;
    run.lock: while a process trains in the folder, who it is (RunLock).
    """

    MANIFEST = "run.json"
    HISTORY = "history.csv"
    BEST_CHECKPOINT = "best.keras"
    BACKUP = "backup"
    BACKUP_STATE = "state.json"
    RESULTS = "results.json"
    PREDICTIONS = "predictions.npz"
    LOCK = "run.lock"
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
        self.lock = self.folder / self.LOCK

    def contents(self) -> list[str]:
        """The names in the folder, but the lock (which a killed process leaves behind)."""
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if p.name != self.LOCK)


def write_atomically(path: Path, text: str) -> None:
    """Write a file so that a kill at any moment leaves either the old or the new content, never half."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def damaged(path: Path, error: BaseException, fix: str) -> RunFolderError:
    """The error for a file of the run that cannot be read: which, why, and what to do."""
    why = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    return RunFolderError(f"{path} is truncated or unreadable ({why}). Nothing was changed. {fix}")


# --------------------------------------------------------------------------------------------------
# The history: one row (a dict) per epoch in the commit, columns (a list per name) for the reader


def history_columns(rows: list[dict]) -> dict:
    """Rows (one dict per epoch) as columns (one list per name), the form TrainingResult.history has."""
    history = {key: [] for key in (rows[0] if rows else ())}
    for row in rows:
        for key in history:
            value = row.get(key, "")
            history[key].append(int(value) if key == "epoch" else float(value) if value not in ("", None) else math.nan)
    return history


def read_history(path: Path) -> dict:
    if not path.exists():
        return {}
    with open(path, newline="") as handle:
        return history_columns(list(csv.DictReader(handle)))


def write_history(path: Path, rows: list[dict]) -> None:
    """history.csv, the reader's view of the committed rows (backup/state.json holds the same rows)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = [",".join(columns)] + [",".join(str(row.get(key, "")) for key in columns) for row in rows]
    write_atomically(path, "\n".join(lines) + "\n" if rows else "")


# --------------------------------------------------------------------------------------------------
# The record: run.json and results.json, each with a declared schema


def _check_fields(record_type, values: dict) -> None:
    """values has exactly record_type's fields, each of its declared type (a float may be written as 1)."""
    kinds = {"str": str, "int": int, "float": (int, float), "bool": bool, "dict": dict}
    fields = {f.name: kinds[f.type] for f in dataclasses.fields(record_type)}
    if set(values) != set(fields):
        raise ValueError(f"its fields are {sorted(values)}, not {sorted(fields)}")
    for name, kind in fields.items():
        if not isinstance(values[name], kind) or (kind is not bool and isinstance(values[name], bool)):
            raise ValueError(f"{name} is {values[name]!r}")


def _read_record(record_type, path: Path):
    values = json.loads(path.read_text())
    if not isinstance(values, dict):
        raise ValueError("it is not a JSON object")
    _check_fields(record_type, values)
    return record_type(**values)


@dataclass(frozen=True)
class Manifest:
    """run.json: which run the folder holds (identity: the settings and data that make two runs the same run), how
    far it is (status "running" or "complete"), its settings, and what was in force (precision, XLA)."""

    identity: dict
    status: str
    config: dict
    data_description: str
    in_force: dict
    resumed_from_epoch: int

    def write(self, files: RunFiles) -> None:
        write_atomically(files.manifest, json.dumps(dataclasses.asdict(self), indent=2))

    @classmethod
    def read(cls, files: RunFiles) -> Manifest:
        """Raises ValueError (or OSError) where run.json is missing, truncated or not of this schema."""
        manifest = _read_record(cls, files.manifest)
        if manifest.status not in ("running", "complete"):
            raise ValueError(f"status is {manifest.status!r}")
        return manifest


@dataclass(frozen=True)
class RunSummary:
    """results.json: what the test of a finished run found, and what the run ran with."""

    test_accuracy: float
    test_loss: float  # mean cross-entropy on the test images (without the weight penalty)
    best_epoch: int  # counted from 1
    evaluated_weights: str
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

    def write(self, files: RunFiles) -> None:
        """results.json: this record's fields only (a TrainingResult is a RunSummary with arrays and more)."""
        record = {name.name: getattr(self, name.name) for name in dataclasses.fields(RunSummary)}
        write_atomically(files.results, json.dumps(record, indent=2))

    @classmethod
    def read(cls, files: RunFiles) -> RunSummary:
        try:
            return _read_record(cls, files.results)
        except (OSError, ValueError, TypeError) as error:
            raise damaged(files.results, error, RETEST) from None


MODEL_LOST = "The model is lost: pass overwrite=True (--overwrite) to train the run again, or choose another folder."
RETEST = (
    "Delete it and run the same command (or cell) again: the finished run is tested again from best.keras, "
    "without training."
)


def read_predictions(files: RunFiles) -> dict:
    """predictions.npz: y_true, y_pred, probabilities and test_indices of the test."""
    try:  # an .npz file is a zip archive: one cut short has lost its directory at the end
        with np.load(files.predictions) as arrays:
            return {k: arrays[k] for k in ("y_true", "y_pred", "probabilities", "test_indices")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise damaged(files.predictions, error, RETEST) from None


def check_model_file(path: Path, fix: str) -> None:
    """A .keras file is a zip archive: one cut short has lost its directory at the end."""
    try:
        with zipfile.ZipFile(path) as archive:
            archive.getinfo("config.json")
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise damaged(path, error, fix) from None


# --------------------------------------------------------------------------------------------------
# The backup: the last committed epoch of an unfinished run


def weights_file(epochs_done: int) -> str:
    return f"epoch-{epochs_done}.weights.h5"


def commit_backup(files: RunFiles, state: dict) -> None:
    """The commit: state.json replaced in one atomic rename. state: identity, epochs_done, latest_weights,
    best_weights (file names in backup/, written before) and history (one row per epoch)."""
    write_atomically(files.backup_state, json.dumps(state))


def read_backup(files: RunFiles) -> dict | None:
    """The last committed epoch of an unfinished run (None: no epoch was committed yet).

    Raises RunFolderError where the folder contradicts itself (a state that names missing or unreadable weights,
    or a history that does not have one row per committed epoch): nothing is changed then, a person has to look.
    """
    if not files.backup_state.exists():
        return None
    fix = (
        f"Nothing was changed. Move the folder {files.folder} aside and start the run again, or pass "
        "overwrite=True (--overwrite) to replace it."
    )
    try:
        state = json.loads(files.backup_state.read_text())
        identity, epochs, rows = dict(state["identity"]), int(state["epochs_done"]), list(state["history"])
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
    for path in named:
        try:
            h5py.File(path, "r").close()
        except OSError as error:
            raise damaged(
                path,
                error,
                "The run cannot resume from these weights: move the folder aside and start the run again, or pass "
                "overwrite=True (--overwrite) to train it again from the first epoch.",
            ) from None
    return {**state, "identity": identity}


def remove_unreferenced_weights(files: RunFiles, keep: set) -> None:
    """Delete backup weight files that the committed state does not name (superseded, or never committed)."""
    for path in files.backup.glob("*.weights.h5"):
        if path.name not in keep:
            path.unlink()


def committed_epochs(files: RunFiles) -> int:
    """How many epochs the folder's backup holds (0 where it holds none or cannot be read)."""
    try:
        state = read_backup(files)
    except RunFolderError:
        return 0
    return state["epochs_done"] if state else 0


# --------------------------------------------------------------------------------------------------
# The lock: one process per run folder


class RunLock:
    """An exclusive lock on a run folder for as long as a run uses it: fcntl.flock on run.lock, which the kernel
    releases when the process ends, however it ends (a kill too), so a lock is never left stale. The file says
    who holds it (process, host, start), for the message another process gets. macOS and Linux; a network file
    system may not honour flock.

    Creating the lock is also the first write into the folder: a folder that cannot be written fails here, before
    anything is built or trained.
    """

    def __init__(self, files: RunFiles):
        self.files, self.descriptor = files, None

    def acquire(self) -> RunLock:
        path = self.files.lock
        try:
            self.files.folder.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=self.files.folder).close()  # a read-only folder may still open its old lock
            while True:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.read(descriptor, 4096).decode(errors="replace")
                    os.close(descriptor)
                    raise RunFolderError(in_use(self.files, holder)) from None
                # the holder before us removes the file as it lets go: then ours is a lock on a removed file
                if path.exists() and os.path.samestat(os.fstat(descriptor), path.stat()):
                    break
                os.close(descriptor)
        except OSError as error:
            raise RunFolderError(
                f"Cannot write in the output folder {self.files.folder}: {error.strerror or error}. Nothing was "
                "trained. Choose a folder you can write in (output_dir / OUTPUT_DIR / --output-dir), or make this one "
                "writable."
            ) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(descriptor, 0)
        os.write(descriptor, json.dumps(holder).encode())
        self.descriptor = descriptor
        return self

    def release(self) -> None:
        if self.descriptor is not None:
            with contextlib.suppress(FileNotFoundError):
                self.files.lock.unlink()  # while still locked: the next process then locks a new file
            os.close(self.descriptor)
            self.descriptor = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exception) -> None:
        self.release()


def in_use(files: RunFiles, holder_text: str) -> str:
    try:
        holder = json.loads(holder_text)
        who = f"process {holder['pid']} on {holder['host']}, started {holder['started']}"
    except (ValueError, KeyError, TypeError):
        who = "another process (it has not yet written who it is)"
    return (
        f"The output folder {files.folder} is in use: {who}, is training there. Nothing was changed. Wait for it to "
        "finish (then the same command resumes or reuses that run), stop it, or choose another output folder."
    )


# --------------------------------------------------------------------------------------------------
# What a run does in a folder


@dataclass(frozen=True)
class Plan:
    """What a run does in its folder: "fresh", "resume" (from state, the last commit), "evaluate" (trained and
    complete, but its test results are gone: test again, train nothing) or "reuse" (the finished run)."""

    action: str
    state: dict | None = None
    manifest: Manifest | None = None


def prepare_run_folder(files: RunFiles, identity: dict, overwrite: bool = False) -> Plan:
    """Plan the run in its folder; call it holding the folder's lock. Refuses (RunFolderError), changing nothing,
    a folder that holds another run, files of something else, or a run it cannot continue without losing what it
    committed; overwrite=True replaces such a folder's run files instead (only this package's files, never
    anything else there)."""
    try:
        return _plan(files, identity)
    except RunFolderError:
        if not overwrite:
            raise
    for name in RunFiles.ALL:
        path = files.folder / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    return Plan("fresh")


def refuse_other_files(files: RunFiles) -> None:
    """Before anything is written into it (the lock too): a folder with files and none of a run's."""
    contents = files.contents()
    if contents and not set(contents) & set(RunFiles.ALL):
        raise RunFolderError(_refusal(files, f"holds files of something else ({_listing(contents)})"))


def _listing(names: list[str]) -> str:
    return ", ".join(names[:5]) + ("..." if len(names) > 5 else "")


def _refusal(files: RunFiles, what: str) -> str:
    return (
        f"The output folder {files.folder} {what}. Nothing was changed. Choose another output folder "
        "(output_dir / OUTPUT_DIR / --output-dir), or pass overwrite=True (--overwrite) to replace that run."
    )


def _plan(files: RunFiles, identity: dict) -> Plan:
    contents = files.contents()
    if not contents:
        return Plan("fresh")
    try:
        manifest, manifest_problem = Manifest.read(files), None
    except (OSError, ValueError, TypeError) as error:
        manifest, manifest_problem = None, "missing" if not files.manifest.exists() else f"unreadable ({error})"
    state = read_backup(files)
    recorded = manifest.identity if manifest else state["identity"] if state else None
    if recorded is None:
        if set(contents) & set(RunFiles.ALL):
            what = f"holds a run whose run.json is {manifest_problem} and no backup that says which run it is"
            raise RunFolderError(_refusal(files, f"{what} ({_listing(contents)})"))
        raise RunFolderError(_refusal(files, f"holds files of something else ({_listing(contents)})"))
    if state and state["identity"] != recorded:
        raise RunFolderError(_refusal(files, "holds a run.json and a backup/state.json of two different runs"))
    if recorded != identity:
        differences = [
            f"{k}: {recorded.get(k)!r} there, {identity.get(k)!r} now"
            for k in dict.fromkeys([*identity, *recorded])
            if recorded.get(k) != identity.get(k)
        ]
        raise RunFolderError(_refusal(files, "holds a run with other settings (" + "; ".join(differences[:4]) + ")"))
    if manifest and manifest.status == "complete":
        return _plan_finished(files, manifest)
    if state:
        return Plan("resume", state=state)
    _refuse_uncommitted_work(files)
    return Plan("fresh")  # no epoch was committed: start again (an uncommitted epoch-1 weights file is removed)


def _plan_finished(files: RunFiles, manifest: Manifest) -> Plan:
    if files.results.exists() and files.predictions.exists():
        RunSummary.read(files)
        read_predictions(files)
        return Plan("reuse", manifest=manifest)
    if files.best_checkpoint.exists() and files.history.exists():
        check_model_file(files.best_checkpoint, MODEL_LOST)
        return Plan("evaluate", manifest=manifest)
    raise RunFolderError(
        f"The output folder {files.folder} holds a finished run whose best.keras or history.csv is missing, "
        "so its results cannot be rebuilt. Nothing was changed. Pass overwrite=True (--overwrite) to "
        "train it again, or choose another output folder."
    )


def _refuse_uncommitted_work(files: RunFiles) -> None:
    """A run marked running without a backup/state.json has committed nothing, or has lost the record of what it
    committed: history rows, weights of a later epoch than the first, or a finished run's files say which."""
    finished = [
        name for name in (RunFiles.BEST_CHECKPOINT, RunFiles.RESULTS, RunFiles.PREDICTIONS) if name in files.contents()
    ]
    if finished:
        raise RunFolderError(
            f"The output folder {files.folder} holds a finished run's files ({', '.join(finished)}) although its "
            "run.json says it is still running, and no backup/state.json to resume from. Nothing was changed. Move "
            "the folder aside to keep those files, or pass overwrite=True (--overwrite) to train the run again."
        )
    rows = len(files.history.read_text().splitlines()[1:]) if files.history.exists() else 0
    later = sorted(p.name for p in files.backup.glob("*.weights.h5") if p.name != weights_file(1))
    if rows or later:
        found = ([f"{rows} rows in history.csv"] if rows else []) + [f"backup/{name}" for name in later]
        raise RunFolderError(
            f"The output folder {files.folder} holds epochs this run committed ({', '.join(found)}) but not "
            "backup/state.json, the record that names them, so it can neither resume from them nor train over "
            "them. Nothing was changed. Put backup/state.json back (from a copy) to resume; or move the folder "
            "aside, or pass overwrite=True (--overwrite), to train the run again from the first epoch."
        )
